# The service's image: the runtime only (requirements.txt; the test and dev tools are in
# requirements-dev.txt and stay out), run as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
# pip is a build tool too: it leaves the image once the runtime is installed
RUN pip install --no-cache-dir -r requirements.txt \
    && pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY . .
# collected as root, read by the app user: the code and static files are not writable at run time
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --no-input --verbosity 0
USER 10001:10001
EXPOSE 8000 8070
# as bin/run starts it: gunicorn.conf.py's limits and logs, and the stream worker (streams on an
# event loop, cached answers before Django; docs/LIVE.md). The open-files limit is compose's.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "leaderboard_project.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "web.worker.StreamingThreadWorker", "--threads", "8"]
