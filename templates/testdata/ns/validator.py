#!/usr/bin/env python3
"""Test stand-in for /usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py.

It has the image validator's real interface, and nothing more lenient:
  env-file PATH   check a .env file: exit 0 clean (or absent), 1 violation
  runtime-env     check this process's environment the same way
Anything else (no subcommand, `--process-env`, a bare path, extra words) is a
usage error: exit 2, as the real one's argument parser answers. A violation
prints a [SECURITY] line and then one line per offending key, with its line
number for a file, on stderr; never a value. Stdout stays empty.

Secret-shaped: a key with TOKEN, KEY, SECRET, PASSWORD, CREDENTIAL or API as
one of its _-separated words, holding a value that is neither empty nor an
OpenShell resolver placeholder (openshell:resolve:env:NAME). Every call is
recorded in /run/ns/rec/validator.log (uid and arguments) for the tests.
"""
import os
import re
import stat
import sys

SECRET_WORD = re.compile(r"(^|_)(TOKEN|KEY|SECRET|PASSWORD|CREDENTIAL|API)(_|$)")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def record(argv):
    try:
        with open("/run/ns/rec/validator.log", "a") as f:
            f.write("uid=%d args=%s\n" % (os.getuid(), " ".join(argv)))
    except OSError:
        pass


def raw_secret(key, value):
    if not SECRET_WORD.search(key):
        return False
    return value not in ("",) and not value.startswith("openshell:resolve:env:")


def refuse(what, found):
    print("[SECURITY] Refusing Hermes startup because %s contains raw secret-shaped values." % what, file=sys.stderr)
    for item in found:
        print("[SECURITY]   %s" % item, file=sys.stderr)
    return 1


def env_file(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return 0
    except OSError as e:
        print("[SECURITY] Refusing Hermes startup because %s cannot be read safely (%s)" % (path, e.strerror), file=sys.stderr)
        return 1
    with os.fdopen(fd, encoding="utf-8") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            print("[SECURITY] Refusing Hermes startup because %s is not a regular file" % path, file=sys.stderr)
            return 1
        found = []
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith("export "):
                line = line[len("export "):].lstrip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            key, value = key.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if NAME.fullmatch(key) and raw_secret(key, value):
                found.append("%s (line %d)" % (key, n))
    return refuse(path, found) if found else 0


def runtime_env():
    found = sorted(k for k, v in os.environ.items() if NAME.fullmatch(k) and raw_secret(k, v))
    return refuse("the process environment", found) if found else 0


def main(argv):
    record(argv)
    if len(argv) == 2 and argv[0] == "env-file":
        return env_file(argv[1])
    if argv == ["runtime-env"]:
        return runtime_env()
    print("usage: validate-env-secret-boundary {env-file PATH,runtime-env}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
