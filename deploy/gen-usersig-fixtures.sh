#!/usr/bin/env bash
# Regenerates tests/api/fixtures/usersig_official.json with Tencent's official UserSig libraries
# (PyPI tls-sig-api-v2 and npm tls-sig-api-v2), so the server is tested against their real output.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/tests/api/fixtures/usersig_official.json"
key=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
python3 -m venv venv && ./venv/bin/pip install -q tls-sig-api-v2==1.1
npm init -y >/dev/null && npm install -s tls-sig-api-v2@1.0.2 >/dev/null
./venv/bin/python - "$key" > py.json <<'PY'
import json, sys, TLSSigAPIv2
api = TLSSigAPIv2.TLSSigAPIv2(1400000001, sys.argv[1])
lib = "PyPI tls-sig-api-v2 1.1 (json.dumps: spaces, \\u escapes)"
print(json.dumps([
  {"library": lib, "identifier": "alice", "token": api.gen_sig("alice", 3153600000)},
  {"library": lib, "identifier": "老师01", "token": api.gen_sig("老师01", 3153600000)},
  {"library": "PyPI tls-sig-api-v2 1.1 with userbuf", "identifier": "carol",
   "token": api.gen_sig_with_userbuf("carol", 3153600000, b"class-1212")},
], ensure_ascii=False))
PY
node -e "
const T=require('tls-sig-api-v2'); const api=new T.Api(1400000001,'$key');
console.log(JSON.stringify([
 {library:'npm tls-sig-api-v2 1.0.2 (JSON.stringify: compact)',identifier:'alice',token:api.genUserSig('alice',3153600000)},
 {library:'npm tls-sig-api-v2 1.0.2 genPrivateMapKey (binary userbuf)',identifier:'bob',token:api.genPrivateMapKey('bob',3153600000,1212,255)},
 {library:'npm tls-sig-api-v2 1.0.2 (JSON.stringify: compact, raw UTF-8)',identifier:'老师01',token:api.genUserSig('老师01',3153600000)}
]))" > node.json
python3 - "$key" "$out" <<'PY'
import json, sys
tokens = json.load(open("py.json")) + json.load(open("node.json"))
json.dump({"comment": "Tokens made by Tencent's official UserSig libraries; regenerate with deploy/gen-usersig-fixtures.sh.",
           "sdkappid": 1400000001, "key": sys.argv[1], "tokens": tokens},
          open(sys.argv[2], "w"), ensure_ascii=False, indent=1)
PY
echo "wrote $out"
