#!/usr/bin/env python3
"""A plain chunked blob uploader, as a script a user might write (bench/neutral.sh).

    bench/chunked-upload.py URL REPOSITORY FILE DIGEST [CHUNK_MIB]

POST /v2/REPOSITORY/blobs/uploads/, then one PATCH per CHUNK_MIB (default 8) of FILE with
Content-Range and Content-Length, each to the Location the previous answer gave, then an empty
PUT ?digest=DIGEST; all on one HTTP/1.1 connection (http.client, no Expect: 100-continue).
Prints the seconds from the POST to the 201 of the PUT. The file is read a chunk at a time.
"""
import http.client
import sys
import time
import urllib.parse


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    url, repository, path, digest = sys.argv[1:5]
    chunk = int(sys.argv[5] if len(sys.argv) > 5 else 8) * 1024 * 1024
    base = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(base.hostname, base.port)

    def send(method, target, body=None, headers=None, expect=202):
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        if response.status != expect:
            sys.exit(f"{method} {target}: {response.status}, expected {expect}")
        location = response.getheader("Location")
        if location and location.startswith("http"):
            parts = urllib.parse.urlsplit(location)
            location = parts.path + ("?" + parts.query if parts.query else "")
        return location

    started = time.perf_counter()
    location = send("POST", f"/v2/{repository}/blobs/uploads/", body=b"", headers={"Content-Length": "0"})
    offset = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk)
            if not data:
                break
            location = send("PATCH", location, body=data, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
                "Content-Length": str(len(data))})
            offset += len(data)
    separator = "&" if "?" in location else "?"
    send("PUT", f"{location}{separator}digest={digest}", body=b"", headers={"Content-Length": "0"}, expect=201)
    print(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main()
