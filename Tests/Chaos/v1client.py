"""The original v1 API, as its clients used it: a write sent to any member, a follower's 307
followed to the leader (the body sent again, as `curl -L` does), JSON back."""
import http.client
import json
import urllib.parse


class Refused(Exception):
    """An answer saying the write did not happen (a failed test-and-set is not one of these)."""


def _request(host, port, method, path, body, timeout):
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location"), response.read()
    finally:
        connection.close()


def write(endpoint, key, value, prev_value=None, timeout=2.0, hops=3):
    """POST /v1/keys/KEY: a set, or a test-and-set with `prev_value`. Returns the answer's JSON
    (an error answer too: {"errorCode": ...}); raises on no answer (the outcome is unknown)."""
    form = {"value": value}
    if prev_value is not None:
        form["prevValue"] = prev_value
    body = urllib.parse.urlencode(form)
    host, port = endpoint
    path = "/v1/keys/" + key
    for _ in range(hops):
        status, location, payload = _request(host, port, "POST", path, body, timeout)
        if status == 307 and location:
            target = urllib.parse.urlsplit(location)
            host, port, path = target.hostname, target.port, target.path
            continue
        return status, json.loads(payload)
    raise Refused(f"still redirected after {hops} hops")


def read(endpoint, key, timeout=2.0):
    """GET /v1/keys/KEY from that member's own store (v1 reads are local): the value, or None."""
    status, _, payload = _request(endpoint[0], endpoint[1], "GET", "/v1/keys/" + key, None, timeout)
    answer = json.loads(payload)
    if status == 200:
        return answer["value"]
    if answer.get("errorCode") == 100:
        return None
    raise Refused(f"GET {key}: {status} {answer}")
