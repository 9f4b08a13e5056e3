#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when they are missing.
# dcmtk: dcmdump/storescu; dicom3tools: dciodvfy; mricron-data: the Colin27 T1 brain volume;
# nginx-light: runs deploy/nginx/pacs-hub.conf.template in tests/deploy (any nginx will do);
# orthanc: the real PACS of the DICOM integration tests and benchmarks/ingest.py.
# chromium: the browser of tests/browser (driven by Playwright from PyPI, no browser download);
# nodejs/npm: `make frontend` bundles the viewer (needs Node.js >= 20.19: the machines ship it;
# Debian 12's own nodejs is 18, so it is only a last resort when node is missing altogether).
set -euo pipefail
missing=()
command -v dcmdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
[ -f /usr/share/mricron/templates/ch2.nii.gz ] || missing+=(mricron-data)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "system-deps: missing Debian packages: ${missing[*]}; install them as root" \
       "(apt-get install ${missing[*]}); the tests that need them are skipped outside CI" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
