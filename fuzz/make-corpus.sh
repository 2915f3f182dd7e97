#!/usr/bin/env bash
# Regenerates the committed seed corpus of every fuzz target (rerun only to change it):
# - splice_flv: tiny FLV slices (1 s or less, 64x48, 5 fps) made with the ffmpeg CLI, the way
#   tests/api/media.rs makes its slices (needs ffmpeg with libx264 and aac);
# - usersig: the official-library tokens of tests/api/fixtures/usersig_official.json, plus a
#   zlib bomb and a few near misses (needs python3);
# - tus_headers, query_body: hand-written header values and query bodies.
set -euo pipefail
cd "$(dirname "$0")"

# seed TARGET NAME CONTENT: one text seed, no trailing newline.
seed() {
  mkdir -p "corpus/$1"
  printf '%s' "$3" >"corpus/$1/$2"
}

# --- usersig ---------------------------------------------------------------------------------
rm -rf corpus/usersig
mkdir -p corpus/usersig
python3 - <<'PY'
import base64, json, zlib
fx = json.load(open("../tests/api/fixtures/usersig_official.json"))
def url(raw):
    return base64.b64encode(raw).decode().translate(str.maketrans("+/=", "*-_"))
def write(name, text):
    open("corpus/usersig/" + name, "w").write(text)
for i, t in enumerate(fx["tokens"]):
    write(f"official-{i}", t["token"])
doc = {"TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": "1400000001",
       "TLS.expire": "60", "TLS.time": "1700000000", "TLS.sig": "AAAA", "TLS.userbuf": "cm9vbQ=="}
write("numbers-as-strings", url(zlib.compress(json.dumps(doc).encode())))
write("not-an-object", url(zlib.compress(b'["TLS.ver","2.0"]')))
write("bomb", url(zlib.compress(b'{"TLS.identifier":"' + b"a" * (1 << 20) + b'"}', 9)))
PY
seed usersig not-zlib 'aGVsbG8gd29ybGQ_'

# --- tus_headers (one string, fed to every header parser) -------------------------------------
rm -rf corpus/tus_headers
seed tus_headers metadata 'task_id MTIz,slice_index MA==, flag ,filename YS5mbHY='
seed tus_headers metadata-dup 'a MQ==,a Mg=='
seed tus_headers concat-partial 'partial'
seed tus_headers concat-final 'final;/localrecord/v1/uploads/0b5e4a7e-8a4e-4a44-9c1e-3f1f0c3a1d2e http://h:1/localrecord/v1/uploads/6f1c2f5e-4c1b-4d0a-8f0e-2b9a7c6d5e4f/'
seed tus_headers checksum-md5 'md5 1B2M2Y8AsgTpgAmY7PhCfg=='
seed tus_headers checksum-sha1 'sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk='
seed tus_headers number ' 1048576 '
seed tus_headers range-from 'bytes=100-'
seed tus_headers range-suffix 'bytes=-500'
seed tus_headers range-both 'bytes=0-99'
seed tus_headers range-multi 'bytes=0-1,5-9'
seed tus_headers version '1.0.0'

# --- query_body (query string, a newline, then the JSON body) --------------------------------
rm -rf corpus/query_body
seed query_body full 'sdkappid=1400000001&expire_time=1548247837&random=7&sign=28374bd8cff400ac4906414780fbe387
{"class_id":1001,"Index":0,"size":20,"user_id":"alice","task_id":"0","expire_time":1548247837}'
seed query_body minimal 'sdkappid=1&expire_time=2&sign=x
{"class_id":1,"size":1}'
seed query_body nulls 'sdkappid=1&expire_time=2&sign=x&random=
{"class_id":1,"size":100,"Index":null,"user_id":null,"task_id":0}'
seed query_body wrong-types 'sdkappid=%31&expire_time=+2&sign=%41
{"class_id":"1","size":1.5,"Index":-1,"user_id":["a"]}'
seed query_body not-object 'sdkappid=1&expire_time=2&sign=x
[1,2,3]'

# --- splice_flv ----------------------------------------------------------------------------------
out=corpus/splice_flv
mkdir -p "$out"

# make NAME SECONDS SIZE AUDIO(yes|no) VCODEC [extra ffmpeg output args...]
make() {
  local name=$1 secs=$2 size=$3 audio=$4 vcodec=$5
  shift 5
  local args=(-v error -y -f lavfi -i "testsrc2=size=${size}:rate=5")
  if [ "$audio" = yes ]; then
    args+=(-f lavfi -i "sine=frequency=440:sample_rate=22050")
  fi
  args+=(-t "$secs" -map_metadata -1 -fflags +bitexact -flags:v +bitexact)
  case $vcodec in
    h264) args+=(-c:v libx264 -preset ultrafast -tune zerolatency -g 5 -pix_fmt yuv420p -x264-params log-level=none) ;;
    flv1) args+=(-c:v flv -q:v 20 -g 5) ;;
  esac
  if [ "$audio" = yes ]; then
    args+=(-c:a aac -b:a 16k -ac 1)
  fi
  ffmpeg "${args[@]}" "$@" -f flv "$out/$name.flv"
}

make h264-aac-1s 1 64x48 yes h264            # the reference the fuzz target splices against
make h264-aac-0.4s 0.4 64x48 yes h264        # two keyframes' worth
make h264-noaudio-1s 1 64x48 no h264         # video only
make h264-aac-80x48 0.6 80x48 yes h264       # another size: the re-encode path
make flv1-aac-1s 1 64x48 yes flv1            # Sorenson H.263: not H.264, no re-encode allowed
make h264-aac-bframes 1 64x48 yes h264 -bf 2 -x264opts b-adapt=0  # composition offsets (pts != dts)

# Not FLV at all, under a slice's name: the current splicer lets FFmpeg probe the format, so other
# demuxers (and their timestamps) are reachable from an upload.
ffmpeg -v error -y -i "$out/h264-aac-0.4s.flv" -c copy -map_metadata -1 -fflags +bitexact -f mp4 "$out/not-flv-mp4.flv"
ffmpeg -v error -y -i "$out/h264-aac-0.4s.flv" -c copy -map_metadata -1 -fflags +bitexact -f mpegts "$out/not-flv-ts.flv"
# Matroska with timestamps at 2^63 us give or take: the input of tests/api/fuzz_regressions.rs
# (tests/api/fixtures/fuzz/splice-mkv-ts-near-i64-max.flv).
ffmpeg -v error -y -f lavfi -i testsrc2=size=64x48:rate=5 -t 0.4 -c:v libx264 -preset ultrafast \
  -tune zerolatency -g 5 -pix_fmt yuv420p -x264-params log-level=none -map_metadata -1 \
  -fflags +bitexact -flags:v +bitexact -output_ts_offset 9223372036854.7s -f matroska \
  "$out/mkv-ts-near-i64-max.flv"

# A slice cut mid-write by a crash, and one with its header alone.
head -c 3000 "$out/h264-aac-1s.flv" >"$out/cut-3000.flv"
head -c 13 "$out/h264-aac-1s.flv" >"$out/header-only.flv"

du -sh corpus/*
