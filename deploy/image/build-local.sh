#!/usr/bin/env bash
# Builds Kelp's image where the Dockerfile cannot be built as it is: no container engine
# daemon, no registry to pull rust:* or distroless/static from. With Debian's tools only
# (buildah, musl-tools; rustup's musl target):
#   1. the Dockerfile's build stage on the host: the same static musl release build of the
#      locked workspace, checked static with `file` and `ldd`, its line tables stripped
#      with `objcopy --strip-debug` (what the Dockerfile's CARGO_PROFILE_RELEASE_STRIP=
#      debuginfo has the linker do; setting it here would rebuild every crate);
#   2. the Dockerfile's runtime stage, its own instructions, by `buildah bud`, with two
#      substitutions: `FROM scratch` plus what distroless/static gives Kelp (the nonroot
#      user in /etc/passwd and /etc/group, an empty /tmp; its CA bundle and tzdata are
#      not needed: Kelp has the Mozilla roots built in and prints UTC) instead of the
#      distroless image, and the host's binary instead of the builder stage's;
#   3. a smoke test: the image's entrypoint run as the image's user (`buildah run`, chroot
#      isolation, host network) serves /ready; then the image's size.
# Not run in CI: it takes a release build (figures in docs/operations.md, "The image").
#   deploy/image/build-local.sh [TAG]        (default localhost/kelp:dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-localhost/kelp:dev}
target="$(uname -m)-unknown-linux-musl"
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
for tool in buildah musl-gcc file curl objcopy; do
  command -v "$tool" >/dev/null \
    || { echo "$tool is needed (apt-get install buildah musl-tools file curl)" >&2; exit 1; }
done
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

echo "== static build ($target), as the Dockerfile's builder stage"
cargo build --release --locked -p kelp --target "$target"
bin="target/$target/release/kelp"
file "$bin"
file "$bin" | grep -Eq 'statically linked|static-pie linked' \
  || { echo "$bin is not static" >&2; exit 1; }
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
  echo "ldd lists shared libraries of $bin:" >&2; ldd "$bin" >&2; exit 1
fi
ls -l "$bin"

echo "== image ($tag): the Dockerfile's runtime stage on scratch"
ctx=$(mktemp -d)
ctr=""
cleanup() { if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi; rm -rf "$ctx"; }
trap cleanup EXIT
mkdir -p "$ctx/out" "$ctx/rootfs/etc" "$ctx/rootfs/tmp"
objcopy --strip-debug "$bin" "$ctx/out/kelp"
chmod 0755 "$ctx/out/kelp"
ls -l "$ctx/out/kelp"
chmod 1777 "$ctx/rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
# The runtime stage, from its FROM to the end.
awk '/^FROM .* AS runtime/ { on = 1 } on' Dockerfile \
  | sed -e 's|^FROM .* AS runtime$|FROM scratch AS runtime\nCOPY rootfs/ /|' \
        -e 's|^COPY --from=builder /out/kelp |COPY out/kelp |' >"$ctx/Dockerfile"
grep -q '^FROM scratch' "$ctx/Dockerfile" && grep -q '^COPY out/kelp ' "$ctx/Dockerfile" \
  || { echo "the Dockerfile's runtime stage changed shape:" >&2; cat "$ctx/Dockerfile" >&2; exit 1; }
cat "$ctx/Dockerfile"
buildah bud --quiet --layers=false -t "$tag" -f "$ctx/Dockerfile" "$ctx" >/dev/null
buildah inspect --type image \
  --format 'user {{.OCIv1.Config.User}}, entrypoint {{.OCIv1.Config.Entrypoint}}, cmd {{.OCIv1.Config.Cmd}}, {{len .OCIv1.Config.Cmd}} words{{println}}' "$tag"

echo "== smoke test: the image's entrypoint as its user"
ctr=$(buildah from "$tag")
entry=$(buildah inspect --type image --format '{{index .OCIv1.Config.Entrypoint 0}}' "$tag")
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
port=$((20000 + RANDOM % 20000))
data=$(mktemp -d)
chmod 0777 "$data"
buildah run --isolation chroot --network host --user "$user" --volume "$data:/var/lib/kelp" \
  "$ctr" -- "$entry" server --listen "127.0.0.1:$port" --data-dir /var/lib/kelp \
  >"$data.log" 2>&1 &
run=$!
ok=""
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
kill "$run" 2>/dev/null || true
wait "$run" 2>/dev/null || true
if [ -z "$ok" ]; then echo "the image's server did not answer /ready:" >&2; cat "$data.log" >&2; exit 1; fi
echo "/ready answered on 127.0.0.1:$port as user $user"
owner=$(stat -c %u "$data"/* 2>/dev/null | sort -u | tr '\n' ' ')
echo "files written by uid: $owner"
rm -rf "$data" "$data.log"

echo "== size"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$tag"
