"""A stack in moto as `labelloop doctor` and `labelloop smoke` meet a deployed one: its functions carry
the environment the Pulumi program gives them, it reviews in the builtin review app with a user pool
in moto's Cognito, IAM's policy simulator is a stand-in (moto has none), the caller (moto's user
``moto``) holds the policies `labelloop deployer-policy` prints, and the commands' AWS clients are
the stack's own (so the local Custom Labels answers them too)."""

from __future__ import annotations

import contextlib
import json

from lifecycle_support import deploy_first, lifecycle_stack

from cli.deployer_policy_cmd import Names, documents
from components.naming import REVIEWER_GROUP
from components.triggers import SERVING_SCHEDULE
from handlers.runtime import aws as runtime_aws
from sandbox.iam_simulator import PolicySimulator
from sandbox.local_aws import ACCOUNT, REGION, SANDBOX_CLIENT_CONFIG
from sandbox.standins import attach

CALLER = "moto"  # the user moto's STS answers for


def target_options(st) -> list[str]:
    return ["--parameter-path", st.parameter_path, "--table", st.table, "--lifecycle-arn",
            st.state_machines["lifecycle"]]


def clients_of(st):
    """The commands' clients: the stack's session (stand-ins attached), in the region asked for."""
    made: dict[tuple[str, str], object] = {}

    def factory(region, profile):
        def client(service: str):
            key = (service, region or REGION)
            if key not in made:
                made[key] = st.session.client(service, region_name=key[1], config=SANDBOX_CLIENT_CONFIG)
            return made[key]
        return client

    return factory


def grant(st, policies: dict[str, list[dict]]) -> None:
    """Give the caller exactly these managed policies (part -> documents), replacing earlier ones."""
    iam = st.client("iam")
    for attached in iam.list_attached_user_policies(UserName=CALLER)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=CALLER, PolicyArn=attached["PolicyArn"])
        iam.delete_policy(PolicyArn=attached["PolicyArn"])
    for part, pieces in policies.items():
        for number, document in enumerate(pieces):
            arn = iam.create_policy(PolicyName=f"labelloop-{part}-{number}",
                                    PolicyDocument=json.dumps(document))["Policy"]["Arn"]
            iam.attach_user_policy(UserName=CALLER, PolicyArn=arn)


def stack_policies(st, review: str = "builtin") -> dict[str, list[dict]]:
    return documents(Names.of(st.stack, REGION, ACCOUNT), review)


def set_environment(st) -> None:
    """Each function's environment as the Pulumi program sets it (the labels travel in the archive)."""
    environment = {k: v for k, v in st.config.to_env().items() if k != "LABELLOOP_LABELS"}
    functions = st.client("lambda")
    for arn in st.functions.values():
        functions.update_function_configuration(FunctionName=arn, Environment={"Variables": environment})


@contextlib.contextmanager
def deployed_stack():
    """A stack with v1 running, as deployed: see the module's docstring."""
    with lifecycle_stack() as st:
        deploy_first(st)
        cognito = st.client("cognito-idp")
        pool = cognito.create_user_pool(PoolName=st.naming("reviewers"), UsernameAttributes=["email"])["UserPool"]["Id"]
        cognito.create_group(UserPoolId=pool, GroupName=REVIEWER_GROUP)
        client = cognito.create_user_pool_client(
            UserPoolId=pool, ClientName=st.naming("review"),
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
        )["UserPoolClient"]["ClientId"]
        st.use_review("builtin")
        st.configure(reviewer_group=REVIEWER_GROUP, user_pool_id=pool,
                     user_pool_client_id=client, login_url="https://login.example.com",
                     review_url="http://127.0.0.1:1/", image_url_seconds=300)
        st.client("s3").put_bucket_versioning(Bucket=st.bucket, VersioningConfiguration={"Status": "Enabled"})
        set_environment(st)
        # The serving schedule, which the sandbox runs by itself.
        st.client("events").put_rule(Name=st.naming.rule(SERVING_SCHEDULE.name),
                                     ScheduleExpression=SERVING_SCHEDULE.expression, State="ENABLED")
        attach(st.session, "iam", PolicySimulator(st.client), lock=st.harness.lock, passthrough=True)
        runtime_aws.use_session(st.session, SANDBOX_CLIENT_CONFIG)  # clients made from now on see it
        st.client("iam").create_user(UserName=CALLER)
        grant(st, stack_policies(st))
        st.pool = pool
        yield st


@contextlib.contextmanager
def review_api_gateway(st):
    """The review app's HTTP API on this machine for a stack in moto: API Gateway's JWT authorizer (a
    token of the stack's user pool, for its client, unexpired: its claims are passed on, arrays as
    `[a b]`) in front of the stack's review function; the functions are told its URL, as a deploy does."""
    import base64
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sandbox.api_gateway import http_api_event

    def claims_of(header: str) -> dict | None:
        scheme, _, token = header.partition(" ")
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return None
        valid = (scheme.lower() == "bearer" and claims.get("client_id") == st.config.user_pool_client_id
                 and claims.get("token_use") == "access" and claims.get("exp", 0) > time.time()
                 and claims.get("iss", "").endswith(st.config.user_pool_id))
        return claims if valid else None

    class Gateway(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
            claims = None
            if self.path.startswith("/api/"):
                claims = claims_of(self.headers.get("Authorization", ""))
                if claims is None:
                    return self._reply(401, json.dumps({"message": "Unauthorized"}).encode())
            response = st.deliver("review_api", http_api_event(self.command, self.path, claims=claims,
                                                                 body=body.decode() if body else None))
            self._reply(int(response["statusCode"]), (response.get("body") or "").encode())

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    previous = st.config.review_url
    st.configure(review_url=f"http://127.0.0.1:{server.server_port}/")
    set_environment(st)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        st.configure(review_url=previous)
        set_environment(st)


@contextlib.contextmanager
def delivering(st, every: float = 0.05):
    """EventBridge, as AWS runs it by itself: the stack's pending events delivered in the background."""
    import threading

    stop = threading.Event()

    def deliver() -> None:
        while not stop.wait(every):
            st.pump()

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        st.pump()
