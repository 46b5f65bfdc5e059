from django.apps import AppConfig


class RpcConfig(AppConfig):
    name = "rpc"
    verbose_name = "gRPC: rankr's leaderboard service, standings and live boards for backends"
