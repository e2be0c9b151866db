#!/usr/bin/env bash
# Re-creates vendor/libp2p-kad: the crates.io release of libp2p-kad named below plus our patch
# vendor/libp2p-kad.patch (ClosestIter without the memmove, see vendor/README.md). The root
# Cargo.toml points `[patch.crates-io] libp2p-kad` at that directory. The directory is generated:
# change the patch file, not the directory, then re-run this script.
#
#   scripts/vendor-libp2p-kad.sh                  # download, verify, patch, replace (if changed)
#   scripts/vendor-libp2p-kad.sh --pristine DIR   # only extract the verified, unpatched crate to
#                                                 # DIR (to regenerate the patch, see README)
#   LIBP2P_KAD_CRATE=file.crate scripts/...       # use a local .crate instead of downloading
#   LIBP2P_KAD_DEST=DIR scripts/...               # write somewhere else (testing)
#
# Moving to the next libp2p-kad release: set VERSION below and SHA256 to that version's `cksum`
# from the crates.io index (https://index.crates.io/li/bp/libp2p-kad, one JSON line per version),
# re-run, then build and test. If the patch no longer applies, first check whether upstream has
# fixed ClosestIter (protocols/kad/src/kbucket.rs: no more taking the inline buffer out of
# `self.iter` per item and per bucket): if so, drop the patch, this script, vendor/libp2p-kad and
# the `[patch.crates-io]` entry. Otherwise port the change and regenerate the patch.
#
# Idempotent: when the result equals the current directory nothing is touched (so a running
# cargo build sees no change in mtimes).
set -euo pipefail

VERSION=0.49.0
SHA256=973caa45045e53f3cf1cf3d596888b82602b30640fd75485836c81aa66e7c38a

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATCH=$ROOT/vendor/libp2p-kad.patch
DEST=${LIBP2P_KAD_DEST:-$ROOT/vendor/libp2p-kad}
NAME=libp2p-kad-$VERSION
URL=https://static.crates.io/crates/libp2p-kad/$NAME.crate

die() { echo "vendor-libp2p-kad: $*" >&2; exit 1; }

PRISTINE=
if [[ ${1:-} == --pristine ]]; then
    [[ -n ${2:-} ]] || die "usage: $0 [--pristine DIR]"
    PRISTINE=$2
elif [[ $# -gt 0 ]]; then
    die "usage: $0 [--pristine DIR]"
fi

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi |
        cut -d' ' -f1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vendor-libp2p-kad.XXXXXX")
STAGE=
cleanup() {
    rm -rf "$TMP"
    if [[ -n $STAGE ]]; then rm -rf "$STAGE"; fi
}
trap cleanup EXIT

# 1. The .crate, checked against the checksum cargo itself would verify.
CRATE=$TMP/$NAME.crate
if [[ -n ${LIBP2P_KAD_CRATE:-} ]]; then
    cp "$LIBP2P_KAD_CRATE" "$CRATE"
else
    curl -sSfL --retry 3 -o "$CRATE" "$URL" || die "download failed: $URL"
fi
GOT=$(sha256 "$CRATE")
[[ $GOT == "$SHA256" ]] || die "sha256 mismatch for $NAME.crate: expected $SHA256, got $GOT.
If you changed VERSION, set SHA256 to its cksum from https://index.crates.io/li/bp/libp2p-kad;
otherwise the download is not the published crate: do not use it."

# 2. Extract. -m: fresh mtimes, so cargo rebuilds whatever changed.
tar -xzmf "$CRATE" -C "$TMP" --no-same-owner
SRC=$TMP/$NAME
[[ -f $SRC/Cargo.toml ]] || die "$NAME.crate does not contain $NAME/Cargo.toml"

if [[ -n $PRISTINE ]]; then
    [[ ! -e $PRISTINE ]] || die "$PRISTINE already exists"
    mv "$SRC" "$PRISTINE"
    echo "vendor-libp2p-kad: unpatched $NAME in $PRISTINE"
    exit 0
fi

# 3. Our patch, with exact context (offsets are fine, fuzz is not).
patch -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch --quiet -d "$SRC" <"$PATCH" ||
    die "$PATCH does not apply to $NAME. Check whether upstream fixed ClosestIter (then drop the
patch and the [patch.crates-io] entry); otherwise port the change and regenerate the patch."

# 4. The crate's own Cargo.lock is dropped (cargo ignores it in a path dependency).
rm -f "$SRC/Cargo.lock"

# 5. Replace the directory, unless it is already identical.
if [[ -d $DEST ]] && diff -r -q "$SRC" "$DEST" >/dev/null; then
    echo "vendor-libp2p-kad: $DEST is already $NAME + patch, unchanged"
    exit 0
fi
STAGE=$DEST.new.$$
mv "$SRC" "$STAGE"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
STAGE=
echo "vendor-libp2p-kad: $DEST re-created from $NAME + $(basename "$PATCH")"
