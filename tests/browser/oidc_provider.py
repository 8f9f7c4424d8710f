"""A local OpenID Connect provider for the sign-in browser test: discovery, an authorisation page
with a form (the "user" types their email), a token endpoint and the signing keys.

Tokens are real: RS256 ID tokens signed with a fresh RSA key through ``joserfc`` (Authlib's
JOSE library, a dependency of Authlib), checked by Streamlit's ``st.login`` (Authlib's client) against the
published keys, with the nonce and audience it sent. Nothing else of a real provider is here
(no consent, no refresh tokens, no client authentication beyond the client id).
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


class Provider:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"}, private=True)
        self.codes: dict[str, dict[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Provider":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def metadata(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def id_token(self, email: str, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": email, "aud": self.client_id, "iat": now, "exp": now + 600,
                  "nonce": nonce, "email": email, "email_verified": True, "name": email.split("@")[0].title()}
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json", headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, json.dumps(provider.metadata()).encode())
                elif url.path == "/jwks":
                    self._send(200, json.dumps({"keys": [provider.key.as_dict(private=False)]}).encode())
                elif url.path == "/authorize":
                    if query.get("client_id") != provider.client_id:
                        self._send(400, b'{"error": "unauthorized_client"}')
                        return
                    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                     for k, v in query.items())
                    page = (f'<html><body><h1>Test provider</h1><form action="/approve" method="get">{hidden}'
                            '<label>Email <input name="login_email" aria-label="Email"></label>'
                            '<button type="submit">Continue</button></form></body></html>')
                    self._send(200, page.encode(), "text/html")
                elif url.path == "/approve":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"email": query.get("login_email", ""), "nonce": query.get("nonce", ""),
                                            "redirect_uri": query.get("redirect_uri", "")}
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self._send(302, b"", "text/plain", {"Location": target})
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:  # noqa: N802
                if urlparse(self.path).path != "/token":
                    self._send(404, b'{"error": "not found"}')
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                    self._send(400, b'{"error": "invalid_grant"}')
                    return
                answer = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600,
                          "id_token": provider.id_token(grant["email"], grant["nonce"])}
                self._send(200, json.dumps(answer).encode())

        return Handler
