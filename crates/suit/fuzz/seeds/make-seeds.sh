#!/usr/bin/env bash
# Writes the signed envelopes of draft-ietf-suit-manifest's examples 0..5
# (hex in shared/vectors/suit/exampleN.txt, after the last "Envelope with COSE
# authentication object:" heading) as binary seeds in decode/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="$here/../../../../../shared/vectors/suit"
for n in 0 1 2 3 4 5; do
  awk '/Envelope with COSE authentication object:/{f=1; b=0; h=""; next}
       f && /^~~~/{b++; if (b==2) {f=0}; next}
       f && b==1 {h = h $0}
       END {print h}' "$vectors/example$n.txt" | tr -d ' \n' | xxd -r -p > "$here/decode/example$n.suit"
done
