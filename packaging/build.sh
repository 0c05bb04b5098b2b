#!/usr/bin/env bash
# Builds the Debian and RPM packages of accesslog-pubsub from a release build:
#
#   packaging/build.sh            -> target/debian/accesslog-pubsub_VERSION-1_ARCH.deb
#                                    target/generate-rpm/accesslog-pubsub-VERSION-1.ARCH.rpm
#
# Needs cargo-deb and cargo-generate-rpm (`cargo install --locked cargo-deb
# cargo-generate-rpm`; .ci/run pins their versions), gzip and strip. What goes into the packages
# is in Cargo.toml, [package.metadata.deb] and [package.metadata.generate-rpm]; the
# maintainer scripts are packaging/debian/ and packaging/rpm/.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo-deb cargo-generate-rpm gzip strip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build.sh: $tool is not installed (cargo install --locked ${tool})" >&2
        exit 1
    fi
done

echo "build.sh: release build"
cargo build --release --locked

# What goes into the packages besides the sources, under target/release/package/: the
# binary without its debug line tables (the release profile keeps them for profiling;
# 13 MB against 43 MB), the man pages and completions generated from the clap definitions
# (packaging/manual.rs).
generated=target/release/package
rm -rf "$generated"
mkdir -p "$generated"
strip -o "$generated/accesslog-pubsub" target/release/accesslog-pubsub
cargo run --release --locked --quiet --example manual -- "$generated"
gzip -9 -n "$generated"/man/*.1

rm -rf target/debian target/generate-rpm
echo "build.sh: .deb"
cargo deb --no-build --locked --quiet
echo "build.sh: .rpm"
cargo generate-rpm
find "$PWD/target/debian" "$PWD/target/generate-rpm" -maxdepth 1 \( -name '*.deb' -o -name '*.rpm' \) \
    -printf 'build.sh: built %p\n'
