#!/usr/bin/env bash
# Re-creates vendor/<crate>: the crates.io release of a crate named below plus our patch
# vendor/<crate>.patch (see vendor/README.md for what each patch fixes and why). The root
# Cargo.toml points `[patch.crates-io] <crate>` at that directory. The directory is generated:
# change the patch file, not the directory, then re-run this script.
#
#   scripts/vendor-crate.sh CRATE                  # download, verify, patch, replace (if changed)
#   scripts/vendor-crate.sh CRATE --pristine DIR   # only extract the verified, unpatched crate
#                                                  # to DIR (to regenerate the patch, see README)
#   VENDOR_CRATE_FILE=file.crate scripts/...       # use a local .crate instead of downloading
#   VENDOR_DEST=DIR scripts/...                    # write somewhere else (testing)
#
# Moving to the next release of a crate: set its version below and its SHA256 to that version's
# `cksum` from the crates.io index (https://index.crates.io/li/bp/<crate>, one JSON line per
# version; cargo also writes it into Cargo.lock as `checksum`), re-run, then build and test. If
# the patch no longer applies, first check whether upstream has fixed what it fixes (README): if
# so, drop the patch, vendor/<crate> and the `[patch.crates-io]` entry. Otherwise port the change
# and regenerate the patch.
#
# Idempotent: when the result equals the current directory nothing is touched (so a running
# cargo build sees no change in mtimes).
set -euo pipefail

die() { echo "vendor-crate: $*" >&2; exit 1; }
usage="usage: $0 CRATE [--pristine DIR]"

CRATE_NAME=${1:-}
case $CRATE_NAME in
libp2p-kad)
    VERSION=0.49.0
    SHA256=973caa45045e53f3cf1cf3d596888b82602b30640fd75485836c81aa66e7c38a
    ;;
libp2p-gossipsub)
    VERSION=0.50.1
    SHA256=6c28d7256540bd1a5df45cf6d7a7d8c58e913ad63ccfaa2f97983ec077b2794a
    ;;
*) die "$usage (CRATE: libp2p-kad or libp2p-gossipsub)" ;;
esac
shift

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATCH=$ROOT/vendor/$CRATE_NAME.patch
DEST=${VENDOR_DEST:-$ROOT/vendor/$CRATE_NAME}
NAME=$CRATE_NAME-$VERSION
URL=https://static.crates.io/crates/$CRATE_NAME/$NAME.crate

PRISTINE=
if [[ ${1:-} == --pristine ]]; then
    [[ -n ${2:-} ]] || die "$usage"
    PRISTINE=$2
elif [[ $# -gt 0 ]]; then
    die "$usage"
fi

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi |
        cut -d' ' -f1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vendor-crate.XXXXXX")
STAGE=
cleanup() {
    rm -rf "$TMP"
    if [[ -n $STAGE ]]; then rm -rf "$STAGE"; fi
}
trap cleanup EXIT

# 1. The .crate, checked against the checksum cargo itself would verify.
CRATE=$TMP/$NAME.crate
if [[ -n ${VENDOR_CRATE_FILE:-} ]]; then
    cp "$VENDOR_CRATE_FILE" "$CRATE"
else
    curl -sSfL --retry 3 -o "$CRATE" "$URL" || die "download failed: $URL"
fi
GOT=$(sha256 "$CRATE")
[[ $GOT == "$SHA256" ]] || die "sha256 mismatch for $NAME.crate: expected $SHA256, got $GOT.
If you changed VERSION, set SHA256 to its cksum from the crates.io index (see the top);
otherwise the download is not the published crate: do not use it."

# 2. Extract. -m: fresh mtimes, so cargo rebuilds whatever changed.
tar -xzmf "$CRATE" -C "$TMP" --no-same-owner
SRC=$TMP/$NAME
[[ -f $SRC/Cargo.toml ]] || die "$NAME.crate does not contain $NAME/Cargo.toml"

if [[ -n $PRISTINE ]]; then
    [[ ! -e $PRISTINE ]] || die "$PRISTINE already exists"
    mv "$SRC" "$PRISTINE"
    echo "vendor-crate: unpatched $NAME in $PRISTINE"
    exit 0
fi

# 3. Our patch, with exact context (offsets are fine, fuzz is not).
patch -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch --quiet -d "$SRC" <"$PATCH" ||
    die "$PATCH does not apply to $NAME. Check whether upstream fixed what it fixes (vendor/README.md;
then drop the patch and the [patch.crates-io] entry); otherwise port the change and regenerate
the patch."

# 4. The crate's own Cargo.lock is dropped (cargo ignores it in a path dependency).
rm -f "$SRC/Cargo.lock"

# 5. Replace the directory, unless it is already identical.
if [[ -d $DEST ]] && diff -r -q "$SRC" "$DEST" >/dev/null; then
    echo "vendor-crate: $DEST is already $NAME + patch, unchanged"
    exit 0
fi
STAGE=$DEST.new.$$
mv "$SRC" "$STAGE"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
STAGE=
echo "vendor-crate: $DEST re-created from $NAME + $(basename "$PATCH")"
