"""A client of the review app over HTTP, as the review page is: it signs in through the sign-in's
authorization code with PKCE (the local stand-in of ``labelloop review``), then calls the API with
its access token."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.identifiers import CLIENT_ID


class Browser:
    """What the review page does over HTTP: sign in (code with PKCE), then the API with its token."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname, parts.port
        self.token = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        connection.request(method, path, body=body, headers={
            **({"Authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def sign_in(self, name: str) -> None:
        verifier = "x" * 64
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        form = {"client_id": CLIENT_ID, "redirect_uri": self.url, "response_type": "code", "state": "st",
                "code_challenge_method": "S256", "code_challenge": challenge, "username": name}
        kind = {"Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = self.request("POST", "/oauth2/authorize", urlencode(form).encode(), kind)
        assert status == 302
        code = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
        status, _, body = self.request("POST", "/oauth2/token", urlencode({
            "grant_type": "authorization_code", "client_id": CLIENT_ID, "code": code, "redirect_uri": self.url,
            "code_verifier": verifier}).encode(), kind)
        assert status == 200
        self.token = json.loads(body)["access_token"]

    def api(self, method: str, path: str, document=None) -> tuple[int, dict]:
        body = json.dumps(document).encode() if document is not None else None
        status, _, reply = self.request(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(reply)
