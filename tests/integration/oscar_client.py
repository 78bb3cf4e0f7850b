"""A small HTTP/1.1 client for OSCAR's invocation and job-tracking endpoints (COMPAT.md §3.2),
used by the tests of fake_oscar.py and by tests that drive the fake by hand.

    c = OscarClient(fake.url)
    c.job("grayify", b"{}", token=tok, job_id="sluice-1")   # Response(status, headers, body)
    c.logs("grayify", basic=("oscar", "pw")).json(); c.all_jobs("grayify", token=oidc)

One keep-alive connection per client, no retries (a dropped answer shows as an exception).
"""
import base64
import http.client
import json
import threading
import urllib.parse


class Response:
    def __init__(self, status, headers, body):
        self.status, self.body = status, body
        self.headers = {k.lower(): v for k, v in headers}

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


class OscarClient:
    """HTTP/1.1 requests to an OSCAR (fake or not) over one keep-alive connection."""

    def __init__(self, url, timeout=10):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        self._lock = threading.Lock()

    def close(self):
        self.conn.close()

    def request(self, method, path, body=b"", headers=None):
        hdrs = dict(headers or {})
        if body or method in ("POST", "PUT"):
            hdrs.setdefault("Content-Length", str(len(body)))
        with self._lock:   # no retry: a dropped answer must show (drop_next)
            try:
                self.conn.request(method, path, body=body or None, headers=hdrs)
                resp = self.conn.getresponse()
                return Response(resp.status, resp.getheaders(), resp.read())
            except (http.client.HTTPException, OSError):
                self.conn.close()   # the next request opens a new connection
                raise

    @staticmethod
    def auth_headers(token=None, basic=None, authorization=None):
        if authorization is not None:
            return {"Authorization": authorization}
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if basic is not None:
            cred = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            return {"Authorization": f"Basic {cred}"}
        return {}

    def job(self, svc, body=b"", token=None, job_id=None, headers=None, **auth):
        hdrs = self.auth_headers(token, **auth)
        if job_id is not None:
            hdrs["X-Delegated-Job-ID"] = job_id
        hdrs.update(headers or {})
        return self.request("POST", f"/job/{svc}", body, hdrs)

    def run(self, svc, body=b"", token=None, headers=None, **auth):
        hdrs = self.auth_headers(token, **auth)
        hdrs.update(headers or {})
        return self.request("POST", f"/run/{svc}", body, hdrs)

    def logs(self, svc, page=None, **auth):
        q = f"?page={urllib.parse.quote(page)}" if page else ""
        return self.request("GET", f"/system/logs/{svc}{q}", headers=self.auth_headers(**auth))

    def all_jobs(self, svc, **auth):
        """{name: info} over every page."""
        out, page = {}, None
        while True:
            r = self.logs(svc, page, **auth)
            assert r.status == 200, r
            doc = r.json()
            out.update(doc["jobs"])
            page = doc.get("next_page")
            if not page:
                return out

    def job_logs(self, svc, job, **auth):
        return self.request("GET", f"/system/logs/{svc}/{job}",
                            headers=self.auth_headers(**auth))

    def service(self, svc, **auth):
        return self.request("GET", f"/system/services/{svc}", headers=self.auth_headers(**auth))
