#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets added with docs/fuzzing.md
(fuzz/corpus/<target>/). Seeds are small and real-shaped: Docker API answers
as dockerd 24 sends them, `docker save` streams with layer tars, probe.sh
output, probe cache files, vault files. Tokens in them are fake.

    fuzz/seeds.py            (re-run after changing a shape; the output is stable)
"""
import base64
import gzip
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
FAKE_OAT = "sk-ant-oat01-" + "fake" * 6 + "-test"
FAKE_ORT = "sk-ant-ort01-" + "fake" * 6 + "-test"


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, bytes | None for a directory | ("link", target) | ("hardlink", target))"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid = info.gid = 1000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(data, tuple):
                info.type = tarfile.SYMTYPE if data[0] == "link" else tarfile.LNKTYPE
                info.linkname = data[1]
                t.addfile(info)
            else:
                if isinstance(data, str):
                    data = data.encode()
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    # Without tarfile's padding to 10 KiB: the end-of-archive blocks are enough.
    out = buf.getvalue().rstrip(b"\0")
    out += b"\0" * (-len(out) % 512)
    return out + b"\0" * 1024


def http(status, reason, headers, body, chunked=False):
    if isinstance(body, str):
        body = body.encode()
    head = f"HTTP/1.1 {status} {reason}\r\n"
    hdrs = dict(headers)
    if chunked:
        hdrs["Transfer-Encoding"] = "chunked"
        half = len(body) // 2
        parts = [body[:half], body[half:]]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
    else:
        hdrs["Content-Length"] = str(len(body))
    for k, v in hdrs.items():
        head += f"{k}: {v}\r\n"
    return head.encode() + b"\r\n" + body


DOCKER_HEADERS = {"Api-Version": "1.43", "Content-Type": "application/json", "Docker-Experimental": "false",
                  "Ostype": "linux", "Server": "Docker/24.0.7 (linux)", "Date": "Tue, 01 Dec 2026 18:00:00 GMT"}

CREDENTIALS = json.dumps({"claudeAiOauth": {"accessToken": FAKE_OAT, "refreshToken": FAKE_ORT,
                                            "expiresAt": 1767225600000, "scopes": ["user:inference"],
                                            "subscriptionType": "max"}})
CLAUDE_JSON = json.dumps({"numStartups": 3, "oauthAccount": {"accountUuid": "00000000-0000-4000-8000-000000000000",
                                                              "emailAddress": "dummy@example.invalid"},
                          "projects": {"/work": {"allowedTools": []}}})

IMAGE_INSPECT = json.dumps({
    "Id": "sha256:5d1e0b3b1c1e4a0c9f2b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39",
    "RepoTags": ["app:1"], "RepoDigests": [], "Parent": "", "Comment": "",
    "Created": "2026-11-30T10:00:00.123456789Z", "DockerVersion": "24.0.7",
    "Config": {"User": "node", "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                       "NODE_VERSION=20.10.0", "HOME=/home/node"],
               "Cmd": ["claude"], "Entrypoint": ["docker-entrypoint.sh"], "WorkingDir": "/work",
               "Labels": {"org.opencontainers.image.title": "app"}},
    "Architecture": "amd64", "Os": "linux", "Size": 412345678, "VirtualSize": 412345678,
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]}})
CONTAINER_INSPECT = json.dumps({
    "Id": "c1" + "0" * 62, "Created": "2026-12-01T18:00:00Z", "Path": "/bin/sh", "Args": ["-c", "true"],
    "State": {"Status": "exited", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
              "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": "2026-12-01T18:00:00Z",
              "FinishedAt": "2026-12-01T18:00:01Z"},
    "Image": "sha256:" + "5" * 64, "Name": "/pb-probe-1",
    "Mounts": [{"Type": "volume", "Name": "pb-session-1", "Source": "/var/lib/docker/volumes/pb-session-1/_data",
                "Destination": "/home/node/.claude", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}],
    "Config": {"Hostname": "c1", "User": "node", "Tty": False, "Labels": {"para-broker.managed": "1"}}})
VOLUME_LIST = json.dumps({"Volumes": [{"CreatedAt": "2026-12-01T18:00:00Z", "Driver": "local",
                                       "Labels": {"para-broker.managed": "1", "para-broker.session": "s1"},
                                       "Mountpoint": "/var/lib/docker/volumes/pb-session-1/_data",
                                       "Name": "pb-session-1", "Options": None, "Scope": "local"}],
                          "Warnings": None})
VERSION = json.dumps({"Platform": {"Name": "Docker Engine - Community"}, "Version": "24.0.7",
                      "ApiVersion": "1.43", "MinAPIVersion": "1.12", "GitCommit": "311b9ff",
                      "GoVersion": "go1.20.10", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0-13-amd64",
                      "BuildTime": "2023-10-26T09:08:02.000000000+00:00"})
ERROR_404 = json.dumps({"message": "No such image: app:1"})
ERROR_400_API = json.dumps({"message": "client version 1.43 is too old. Minimum supported API version is 1.44, "
                                       "please upgrade your client to a newer version"})
PATH_STAT = json.dumps({"name": ".claude", "size": 4096, "mode": 2147484141,
                        "mtime": "2026-12-01T18:00:00Z", "linkTarget": ""})


def docker_http():
    put("docker_http", "json-200", b"\x00" + http(200, "OK", DOCKER_HEADERS, IMAGE_INSPECT))
    put("docker_http", "chunked-200", b"\x00" + http(200, "OK", DOCKER_HEADERS, VOLUME_LIST, chunked=True))
    put("docker_http", "error-404", b"\x00" + http(404, "Not Found", DOCKER_HEADERS, ERROR_404 + "\n"))
    stat_headers = dict(DOCKER_HEADERS, **{"X-Docker-Container-Path-Stat": base64.b64encode(PATH_STAT.encode()).decode()})
    put("docker_http", "head-archive", b"\x01" + http(200, "OK", stat_headers, b""))
    put("docker_http", "stream-body", b"\x02" + http(200, "OK", {"Content-Type": "application/x-tar"},
                                                      tar([(".claude.json", CLAUDE_JSON)]), chunked=True))
    put("docker_http", "upload-answer", b"\x03" + http(200, "OK", DOCKER_HEADERS, ""))
    put("docker_http", "upload-refused", b"\x03" + http(404, "Not Found", DOCKER_HEADERS,
                                                        json.dumps({"message": "Could not find the file /nope in container c1"})))
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n" + b"\x02\x00\x00\x00\x00\x00\x00\x05oops\n"
    put("docker_http", "upgrade-101", b"\x04" + b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frames)
    put("docker_http", "export", b"\x05" + http(200, "OK", {"Content-Type": "application/x-tar"}, save_stream(), chunked=True))
    put("docker_http", "archive-get", b"\x06" + http(200, "OK", dict(stat_headers, **{"Content-Type": "application/x-tar"}),
                                                      tar([(".claude", None), (".claude/.credentials.json", CREDENTIALS)])))
    put("docker_http", "logs", b"\x07" + http(200, "OK", {"Content-Type": "application/vnd.docker.multiplexed-stream"},
                                               frames, chunked=True))
    put("docker_http", "exec", b"\x08" + b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frames)


def docker_json():
    def seed(name, op, status_sel, api, body):
        put("docker_json", name, bytes([op, status_sel]) + api.encode() + b"\n" + body.encode())
    seed("ping", 0, 0, "1.43", "")
    seed("version", 1, 0, "1.43", VERSION)
    seed("version-old", 1, 0, "1.43", VERSION.replace('"1.43"', '"1.24"'))
    seed("image-inspect", 2, 0, "1.41", IMAGE_INSPECT)
    seed("image-list", 3, 0, "1.43", json.dumps([{"Containers": -1, "Created": 1764583200, "Id": "sha256:" + "5" * 64,
                                                   "Labels": {"para-broker.managed": "1"}, "ParentId": "",
                                                   "RepoDigests": None, "RepoTags": ["pb-test:1"], "SharedSize": -1,
                                                   "Size": 7654321}]))
    seed("container-inspect", 4, 0, "1.43", CONTAINER_INSPECT)
    seed("container-list", 5, 0, "1.43", json.dumps([{"Id": "c1" + "0" * 62, "Names": ["/pb-probe-1"], "Image": "app:1",
                                                       "State": "running", "Status": "Up 2 minutes",
                                                       "Labels": {"para-broker.managed": "1"}}]))
    seed("changes", 6, 0, "1.43", json.dumps([{"Kind": 0, "Path": "/home"}, {"Kind": 1, "Path": "/home/node/.claude.json"},
                                               {"Kind": 2, "Path": "/tmp/x"}]))
    seed("volume-list", 7, 0, "1.43", VOLUME_LIST)
    seed("volume-inspect", 8, 0, "1.43", json.dumps(json.loads(VOLUME_LIST)["Volumes"][0]))
    seed("volume-create", 9, 3, "1.43", json.dumps(json.loads(VOLUME_LIST)["Volumes"][0]))
    seed("container-create", 10, 3, "1.43", json.dumps({"Id": "c1" + "0" * 62, "Warnings": []}))
    seed("wait", 11, 0, "1.43", json.dumps({"StatusCode": 0, "Error": None}))
    seed("exec-create", 12, 3, "1.43", json.dumps({"Id": "e1" + "0" * 62}))
    seed("path-stat", 13, 0, "1.43", PATH_STAT)
    seed("import", 14, 0, "1.43", '{"status":"sha256:' + "5" * 64 + '"}\r\n')
    seed("import-error", 14, 0, "1.43", '{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}\r\n')
    seed("version-fallback", 15, 0, "", VERSION)
    seed("error-404", 16, 6, "1.43", ERROR_404)
    seed("error-409", 16, 7, "1.43", json.dumps({"message": "removal of container c1 is already in progress"}))
    seed("error-api-retired", 4, 5, "1.44", ERROR_400_API)
    seed("error-text", 16, 8, "1.43", "page not found\n")


def save_stream():
    layer0 = tar([("etc", None), ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n"),
                  ("home", None), ("home/node", None), ("home/node/.claude", None),
                  ("home/node/.claude/.credentials.json", CREDENTIALS), ("home/node/.claude.json", CLAUDE_JSON)])
    layer1 = tar([("home/node/.claude/.wh..credentials.json", b""), ("home/node/.wh..wh..opq", b""),
                  ("usr/local/bin/claude", ("link", "../lib/node_modules/@anthropic-ai/claude-code/cli.js"))])
    layer1 = gzip.compress(layer1, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"User": "node"},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]}})
    manifest = json.dumps([{"Config": "blobs/sha256/" + "c" * 64, "RepoTags": ["app:1"],
                            "Layers": ["blobs/sha256/" + "a" * 64, "blobs/sha256/" + "b" * 64]}])
    return tar([("blobs", None), ("blobs/sha256", None), ("blobs/sha256/" + "a" * 64, layer0),
                ("blobs/sha256/" + "b" * 64, layer1), ("blobs/sha256/" + "c" * 64, config),
                ("index.json", json.dumps({"schemaVersion": 2, "manifests": []})), ("manifest.json", manifest),
                ("oci-layout", '{"imageLayoutVersion":"1.0.0"}'), ("repositories", json.dumps({"app": {"1": "a" * 64}}))])


def save_stream_legacy():
    layer = tar([("root", None), ("root/.claude.json", CLAUDE_JSON), ("root/.claude", None),
                 ("root/.claude/.credentials.json", CREDENTIALS)], fmt=tarfile.USTAR_FORMAT)
    manifest = json.dumps([{"Config": "d" * 64 + ".json", "RepoTags": ["legacy:1"], "Layers": ["e" * 64 + "/layer.tar"]}])
    return tar([("e" * 64, None), ("e" * 64 + "/VERSION", "1.0"), ("e" * 64 + "/json", "{}"),
                ("e" * 64 + "/layer.tar", layer), ("d" * 64 + ".json", "{}"), ("manifest.json", manifest)],
               fmt=tarfile.USTAR_FORMAT)


def image_scan():
    put("image_scan", "oci-save", b"\x00" + save_stream())
    put("image_scan", "legacy-save", b"\x04" + save_stream_legacy())
    put("image_scan", "no-manifest", b"\x01" + tar([("layer.tar", tar([("a/.credentials.json", CREDENTIALS)]))]))


def content_matcher():
    put("content_matcher", "credentials", b"\x00\x10" + CREDENTIALS.encode())
    put("content_matcher", "claude-json", b"\x01\x03" + CLAUDE_JSON.encode())
    put("content_matcher", "api-key", b"\x01\x40" + json.dumps({"primaryApiKey": "sk-ant-api03-" + "fake" * 6}).encode())
    put("content_matcher", "program-text", b"\x00\x07" + b'const p="sk-ant-oat";function f(){return "claudeAiOauth"}')


def volume_tar():
    put("volume_tar", "session", b"\x00" + tar([(".claude", None), (".claude/.credentials.json", CREDENTIALS),
                                                 (".claude/projects", None), (".claude.json", CLAUDE_JSON)]))
    put("volume_tar", "docker-cp", b"\x05" + tar([("./", None), ("./.credentials.json", CREDENTIALS),
                                                   ("./statsig", None), ("./statsig/x", "1"),
                                                   ("./link", ("link", "/etc/passwd"))], fmt=tarfile.GNU_FORMAT))


def probe_output():
    put("probe_output", "npm", json.dumps({
        "probe": 1, "uid": 1000, "gid": 1000, "user": "node", "home": "/home/node", "passwd_home": "/home/node",
        "in_passwd": True, "readlink": True,
        "env": {"HOME": "/home/node", "CLAUDE_CONFIG_DIR": None, "XDG_CONFIG_HOME": None, "PATH": "/usr/local/bin:/usr/bin:/bin"},
        "secrets": {"ANTHROPIC_API_KEY": False, "ANTHROPIC_AUTH_TOKEN": False},
        "claude": {"link": "/usr/local/bin/claude",
                   "resolved": "/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js"},
        "native_links": [{"path": "/home/node/.local/bin/claude", "exists": False, "resolved": None}],
        "packages": [{"dir": "/usr/local/lib/node_modules/@anthropic-ai/claude-code",
                      "name": "@anthropic-ai/claude-code", "version": "1.0.31"}],
        "checks": [{"path": "/home/node/.claude/settings.json", "exists": True, "marker": False},
                   {"path": "/etc/claude-code/managed-settings.json", "exists": False, "marker": None}]}) + "\n")
    put("probe_output", "native", "Welcome to the image\n" + json.dumps({
        "probe": 1, "uid": 0, "gid": 0, "user": "root", "home": "/root", "passwd_home": "/root", "in_passwd": True,
        "readlink": False, "env": {"HOME": "/root", "CLAUDE_CONFIG_DIR": "/cfg"}, "secrets": {"ANTHROPIC_API_KEY": True},
        "claude": {"link": "/root/.local/bin/claude", "resolved": "/root/.local/share/claude/versions/1.0.58"},
        "native_links": [{"path": "/root/.local/bin/claude", "exists": True,
                          "resolved": "/root/.local/share/claude/versions/1.0.58"}],
        "packages": [], "checks": []}) + "\n")
    put("probe_output", "no-claude", '{"probe":1,"uid":0,"gid":0,"user":"root","home":"/root","passwd_home":"/root",'
        '"in_passwd":true,"readlink":true,"env":{},"secrets":{},"claude":{"link":null,"resolved":null},'
        '"native_links":[],"packages":[],"checks":[]}\n')


def probe_cache():
    report = {"schema": 1, "image": "app:1",
              "image_id": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
              "claude": {"found": True, "kind": "npm-js", "version": "1.0.31",
                         "path": "/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js",
                         "link": "/usr/local/bin/claude"},
              "user": {"name": "node", "uid": 1000, "gid": 1000, "home": "/home/node"},
              "env": {"CLAUDE_CONFIG_DIR": None, "XDG_CONFIG_HOME": None},
              "locations": {"config_dir": "/home/node/.claude", "global_config": "/home/node/.claude.json",
                            "credentials": "/home/node/.claude/.credentials.json",
                            "lock": "/home/node/.claude.lock", "locks": ["/home/node/.claude.lock"]},
              "honors_claude_config_dir": True, "method": "probe", "rule": "v1", "knowledge_version": "1",
              "login_keys": {"credentials": ["claudeAiOauth"], "global_config": ["oauthAccount"]},
              "evidence": ["claude on PATH: /usr/local/bin/claude"], "warnings": [], "research": None}
    put("probe_cache", "report", json.dumps(report))
    report["method"] = "research"
    report["research"] = {"observed": report["locations"], "written": ["/home/node/.claude.json"],
                          "honors_claude_config_dir": None, "agrees": True}
    put("probe_cache", "research", json.dumps(report, indent=2))


def probe_image():
    # FuzzedDataProvider input: strings end at a backslash that is not doubled,
    # numbers come from the end. These make the passwd/package.json reads likely.
    put("probe_image", "node-user", "node\\\x00HOME=/home/node\\\x00PATH=/usr/local/bin:/usr/bin\\\x00"
        "\x00" + tar([("passwd", "node:x:1000:1000::/home/node:/bin/sh\n")]).decode("latin-1") + "\\\x00\x01\x02\x04\x01\x02")
    put("probe_image", "uid-only", "1000:1000\\\x00\x01\x02\x03\x00\x01")


def vault_files():
    header = json.dumps({"format": "para-broker-vault", "version": 1, "vault_id": "0123456789abcdef0123456789abcdef",
                         "provider": "key-file", "kdf": None, "wrapped_key": "00" * 60, "created": 1700000000000},
                        indent=2) + "\n"
    put("vault_files", "header-key-file", b"\x00" + header.encode())
    put("vault_files", "header-passphrase", b"\x00" + json.dumps({
        "format": "para-broker-vault", "version": 1, "vault_id": "0123456789abcdef0123456789abcdef",
        "provider": "passphrase", "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "00" * 16},
        "wrapped_key": "00" * 60, "created": 1700000000000}, indent=2).encode())
    put("vault_files", "key-file", b"\x01" + b"5a" * 32 + b"\n")
    record = {"seq": 1, "time": 1700000000000, "op": "init", "credential": "", "name": "", "session": "", "image": "",
              "pid": 1, "uid": 1000, "result": "ok", "fingerprint": "", "detail": "", "prev": "00" * 32, "mac": "00" * 32}
    head = {"seq": 1, "mac": "00" * 32, "tag": "00" * 32}
    pending = {"time": 1700000000000, "detail": "wrong key file"}
    put("vault_files", "log", b"\x02" + json.dumps(record, separators=(",", ":")).encode() + b"\n\xff" +
        json.dumps(head).encode() + b"\xff" + json.dumps(pending).encode() + b"\n")


def findings():
    """Inputs that broke a target once (docs/fuzzing.md, "What the targets found")."""
    meta = {"schema": 1, "id": "0123456789abcdef", "name": "w", "kind": "oauth", "account": "", "account_uuid": "",
            "identity": "", "plan": "", "expires_at": None, "source": "", "fingerprint": "", "created": 1,
            "updated": 1, "last_used": None, "files": []}
    put("entry", "float-created", b"\x01" + json.dumps(meta).replace('"created": 1,', '"created": 1e300,').encode())
    put("claude_json", "expires-huge", '{"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test","refreshToken":"r",'
        '"expiresAt":9223372036854775808}}')
    put("vault_files", "header-float-version", b"\x00" + b'{"format":"para-broker-vault","version":1e300}')
    put("vault_files", "head-float-seq", b"\x02\xff" + b'{"seq":1e300,"mac":"00","tag":"00"}\xff')
    report = open(os.path.join(CORPUS, "probe_cache", "report")).read()
    put("probe_cache", "float-uid", report.replace('"uid": 1000', '"uid": 1000.5'))
    put("probe_cache", "negative-uid", report.replace('"uid": 1000', '"uid": -1'))
    put("docker_json", "size-1e300", bytes([2, 0]) + b"1.43\n" + IMAGE_INSPECT.replace('"Size": 412345678', '"Size": 1e300').encode())
    put("docker_json", "api-overlong", bytes([7, 0]) + b"1.999999999999999999999999999999\n[]")
    put("docker_json", "retired-unprintable", bytes([1, 0]) + b"1.43\n" +
        VERSION.replace('"1.43"', '"1.30\\u0007"').replace('"1.12"', '"1.40"').encode())
    put("volume_tar", "non-ascii-name", b"\x04" + tar([("projects", None), ("projects/-home-j\u00f6rg", None)],
                                                       fmt=tarfile.GNU_FORMAT))
    put("probe_image", "escape-user", "\x1b]0;owned\x07user\\\x00\x00\x00")


def writeback():
    # A volume's .credentials.json, a NUL, its .claude.json (fuzz/writeback_fuzz.cpp).
    account = '{"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-0000000000a1"}}'

    def login(expires, extra=""):
        return ('{"claudeAiOauth":{"accessToken":"' + FAKE_OAT + '","refreshToken":"' + FAKE_ORT +
                '","expiresAt":' + str(expires) + ',"scopes":["user:inference"],"subscriptionType":"max"},' +
                '"mcpOAuth":{"s":{"accessToken":"fake-test-mcp"}}' + extra + '}')
    put("writeback", "refresh", login(1800028800000) + "\0" + account)
    put("writeback", "far-expiry", login(9000000000000000) + "\0" + account)
    put("writeback", "other-account", login(1800028800000) + "\0" + account.replace("a1", "ff"))
    put("writeback", "no-account", login(1800028800000) + "\0" + '{"hasCompletedOnboarding":true}')
    put("writeback", "extra-key", login(1800028800000, ',"pluginSecrets":{"x":"y"}') + "\0" + account)
    put("writeback", "no-claude-json", login(1800028800000))


def relay():
    # One login volume's .credentials.json, a NUL, another's (fuzz/relay_fuzz.cpp).
    def login(expires, tag="new", extra="", oauth_extra=""):
        return ('{"claudeAiOauth":{"accessToken":"' + FAKE_OAT + tag + '","refreshToken":"' + FAKE_ORT + tag +
                '","expiresAt":' + str(expires) + ',"scopes":["user:inference"],"subscriptionType":"max"' +
                oauth_extra + '}' + extra + '}')
    target = login(1800003600000, "old", ',"mcpOAuth":{"s":{"accessToken":"fake-test-mcp"}}',
                   ',"accountUuid":"00000000-0000-4000-8000-0000000000a1"')
    put("relay", "refresh", login(1800028800000) + "\0" + target)
    put("relay", "far-expiry", login(9000000000000000) + "\0" + target)
    put("relay", "planted-key", login(1800028800000, extra=',"pluginSecrets":{"x":"y"}') + "\0" + target)
    put("relay", "other-account",
        login(1800028800000, oauth_extra=',"accountUuid":"00000000-0000-4000-8000-0000000000ff"') + "\0" + target)
    put("relay", "torn-target", login(1800028800000) + "\0" + target[:40])
    put("relay", "no-target", login(1800028800000))


for f in (docker_http, docker_json, image_scan, content_matcher, volume_tar, probe_output, probe_cache, probe_image,
          vault_files, findings, writeback, relay):
    f()

