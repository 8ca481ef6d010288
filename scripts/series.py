#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Export the project as a git format-patch series against the base tree.

  series.py check            the manifest covers every file exactly once
  series.py export OUTDIR    check, build the series as commits, format-patch

The manifest is series/: series/order lists the patches in order (one name
a line, '#' comments), and each name is a file of the same name:

  Subject: io_uring: add memory regions          (optional, see below)
  Patches: io_uring-wire-up-IORING_REGISTER_MEM_REGION ...
  Files: io_uring/region.c include/linux/io_uring/*.h ...
  <blank line>
  The commit message body: why the patch is needed and what it does.

Patches: names files of patches/ without their number (NNNN-), so that
renumbering keeps the manifest valid; they are applied in the order given.
Files: are paths or globs ('*' matches '/' too) of the overlay files
(ours, at their kernel paths) that the patch adds.  Both may repeat and
take several values.  A patch made of exactly one patches/ file and
nothing else may leave out Subject and the body: that patch's own
message is used; with a Subject and no body the subject is replaced.
A Signed-off-by (SERIES_SIGNOFF) is added unless the message has it.

Every patches/ file and every overlay file must be in exactly one patch,
every name and glob must match something, and the last patch must give
exactly the tree that `make tree` builds (build/linux's commits plus the
overlay), or nothing is exported.  The cover letter is
series/cover-letter: a "Subject:" line, a blank line and the text that
goes above git's shortlog and diffstat.
"""
import email
import email.policy
import fnmatch
import os
import re
import subprocess
import sys
import tempfile

TOP = os.environ.get("KMBUF_TOP") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
TREE = os.environ.get("TREE") or os.path.join(TOP, "build", "linux")
OVERLAY_DIRS = os.environ.get(
    "OVERLAY_DIRS",
    "io_uring include drivers samples tools Documentation lib block").split()
SIGNOFF = os.environ.get("SERIES_SIGNOFF",
                         "kmbuf developers <kmbuf-dev@example.invalid>")
MANIFEST = os.path.join(TOP, "series")


class SeriesError(Exception):
    pass


def run(cmd, cwd=None, env=None, data=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode:
        raise SeriesError("%s failed:\n%s%s" % (" ".join(cmd), p.stdout,
                                                p.stderr))
    return p


def patches_list():
    out = []
    with open(os.path.join(TOP, "patches", "series")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def overlay_files():
    p = run(["git", "ls-files", "-co", "--exclude-standard", "--"] +
            OVERLAY_DIRS, cwd=TOP)
    return sorted(f for f in p.stdout.splitlines()
                  if os.path.isfile(os.path.join(TOP, f)))


class Patch:
    def __init__(self, name):
        self.name = name
        self.subject = None
        self.patches = []
        self.files = []
        self.body = ""
        path = os.path.join(MANIFEST, name)
        if not os.path.isfile(path):
            raise SeriesError("series/order names %s, which does not exist"
                              % name)
        with open(path) as f:
            text = f.read()
        head, _, body = text.partition("\n\n")
        self.body = body.strip()
        for n, line in enumerate(head.splitlines(), 1):
            key, sep, val = line.partition(":")
            if not sep:
                raise SeriesError("series/%s:%d: not 'Key: value'" % (name, n))
            key, val = key.strip(), val.strip()
            if key == "Subject":
                self.subject = val
            elif key == "Patches":
                self.patches += val.split()
            elif key == "Files":
                self.files += val.split()
            else:
                raise SeriesError("series/%s:%d: unknown key %s"
                                  % (name, n, key))


def read_order():
    names = []
    with open(os.path.join(MANIFEST, "order")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(line)
    return [Patch(n) for n in names], names


def check():
    """Resolve the manifest; raise SeriesError listing every problem."""
    series, names = read_order()
    errors = []
    known = set(names) | {"order", "cover-letter"}
    for f in sorted(os.listdir(MANIFEST)):
        if f not in known:
            errors.append("series/%s is not listed in series/order" % f)
    if len(set(names)) != len(names):
        errors.append("series/order lists a patch twice")

    pfiles = patches_list()
    ofiles = overlay_files()
    owner_p = {}
    owner_f = {}
    for s in series:
        s.pfiles = []
        for n in s.patches:
            m = [p for p in pfiles if p == n or
                 re.fullmatch(r"\d{4}-" + re.escape(n) + r"\.patch", p)]
            if len(m) != 1:
                errors.append("series/%s: Patches: %s matches %d files of "
                              "patches/series" % (s.name, n, len(m)))
                continue
            s.pfiles.append(m[0])
            owner_p.setdefault(m[0], []).append(s.name)
        s.ofiles = []
        for g in s.files:
            m = [f for f in ofiles if fnmatch.fnmatchcase(f, g)]
            if not m:
                errors.append("series/%s: Files: %s matches no overlay file"
                              % (s.name, g))
            for f in m:
                if f not in s.ofiles:
                    s.ofiles.append(f)
                    owner_f.setdefault(f, []).append(s.name)
        if not s.pfiles and not s.ofiles:
            errors.append("series/%s is empty" % s.name)
        if (len(s.pfiles) != 1 or s.ofiles) and not (s.subject and s.body):
            errors.append("series/%s: a patch made of more than one file "
                          "needs a Subject and a message" % s.name)
    for p in pfiles:
        o = owner_p.get(p, [])
        if len(o) != 1:
            errors.append("patches/%s is in %s" %
                          (p, " and ".join(o) if o else "no exported patch"))
    for f in ofiles:
        o = owner_f.get(f, [])
        if len(o) != 1:
            errors.append("%s is in %s" %
                          (f, " and ".join(o) if o else "no exported patch"))
    if errors:
        raise SeriesError("series manifest:\n  " + "\n  ".join(errors))
    return series


def patch_message(path):
    """Subject and body of a git format-patch file."""
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    subject = re.sub(r"^\[PATCH[^\]]*\]\s*", "", str(msg["Subject"]))
    subject = " ".join(subject.split())
    payload = msg.get_payload(decode=True).decode("utf-8", "replace")
    body = payload.split("\n---\n", 1)[0].strip()
    return subject, body


def message(s):
    if s.body:
        subject, body = s.subject, s.body
    else:
        subject, body = patch_message(os.path.join(TOP, "patches",
                                                   s.pfiles[0]))
        subject = s.subject or subject
    if len(subject) > 75:
        raise SeriesError("series/%s: subject longer than 75 characters: %s"
                          % (s.name, subject))
    if not re.search(r"^Signed-off-by: ", body, re.M):
        body += "\n\nSigned-off-by: " + SIGNOFF
    return subject + "\n\n" + body + "\n"


def add_overlay(env, files):
    for f in files:
        path = os.path.join(TOP, f)
        blob = run(["git", "hash-object", "-w", "--no-filters", path],
                   env=env).stdout.strip()
        mode = "100755" if os.access(path, os.X_OK) else "100644"
        run(["git", "update-index", "--add", "--cacheinfo",
             "%s,%s,%s" % (mode, blob, f)], env=env)


def export(outdir):
    series = check()
    gitdir = os.path.join(TREE, ".git")
    if not os.path.isdir(gitdir):
        raise SeriesError("%s is not a git tree: run 'make tree'" % TREE)
    date = run(["git", "log", "-1", "--format=%cI"], cwd=TOP).stdout.strip()
    name, mail = re.fullmatch(r"(.*?)\s*<(.*)>", SIGNOFF).groups()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GIT_DIR=gitdir,
                   GIT_INDEX_FILE=os.path.join(tmp, "index"),
                   GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=mail,
                   GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=mail,
                   GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        base = run(["git", "rev-parse", "base^{commit}"], env=env).stdout.strip()
        run(["git", "read-tree", base], env=env)
        tip = base
        for s in series:
            for p in s.pfiles:
                path = os.path.join(TOP, "patches", p)
                r = run(["git", "apply", "--cached", path], env=env,
                        check=False)
                if r.returncode:
                    r = run(["git", "apply", "--cached", "--3way", path],
                            env=env, check=False)
                if r.returncode:
                    raise SeriesError("series/%s: patches/%s does not apply "
                                      "in series order:\n%s" %
                                      (s.name, p, r.stderr))
            add_overlay(env, s.ofiles)
            tree = run(["git", "write-tree"], env=env).stdout.strip()
            tip = run(["git", "commit-tree", tree, "-p", tip, "-F", "-"],
                      env=env, data=message(s)).stdout.strip()
        run(["git", "update-ref", "refs/kmbuf/series", tip], env=env)

        # The series must add up to the tree that is built and tested.
        run(["git", "read-tree", "HEAD"], env=env)
        add_overlay(env, overlay_files())
        want = run(["git", "write-tree"], env=env).stdout.strip()
        diff = run(["git", "diff", "--stat", want, tip], env=env).stdout
        if diff:
            raise SeriesError("the series does not add up to build/linux "
                              "(HEAD + overlay); is the tree synced "
                              "('make tree')?\n" + diff)

        os.makedirs(outdir, exist_ok=True)
        for f in os.listdir(outdir):
            if f.endswith(".patch"):
                os.unlink(os.path.join(outdir, f))
        run(["git", "format-patch", "-q", "--zero-commit", "--no-signature",
             "--cover-letter", "-o", outdir, "%s..%s" % (base, tip)],
            env=env)
    cover_letter(outdir)
    return series


def cover_letter(outdir):
    path = os.path.join(outdir, "0000-cover-letter.patch")
    with open(os.path.join(MANIFEST, "cover-letter")) as f:
        head, _, blurb = f.read().partition("\n\n")
    m = re.match(r"Subject:\s*(.*)", head)
    if not m:
        raise SeriesError("series/cover-letter must start with 'Subject:'")
    with open(path) as f:
        text = f.read()
    if "*** SUBJECT HERE ***" not in text or "*** BLURB HERE ***" not in text:
        raise SeriesError("%s: no placeholders to fill" % path)
    text = text.replace("*** SUBJECT HERE ***", m.group(1).strip(), 1)
    text = text.replace("*** BLURB HERE ***", blurb.strip() + "\n", 1)
    with open(path, "w") as f:
        f.write(text)


def main():
    try:
        if sys.argv[1:] == ["check"]:
            series = check()
            print("series manifest: %d patches, every patches/ and overlay "
                  "file in exactly one" % len(series))
        elif len(sys.argv) == 3 and sys.argv[1] == "export":
            export(sys.argv[2])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except SeriesError as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
