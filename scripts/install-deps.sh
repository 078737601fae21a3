#!/usr/bin/env bash
# Installs what citytwin needs on Debian/Ubuntu when it is missing: PostgreSQL with
# PostGIS, GEOS headers for go-geos, GDAL (ogr2ogr for tests and bench-import),
# Mosquitto and nats-server (integration tests), Chromium (browser tests) and Node.
# It is idempotent and quiet when everything is already there.
set -euo pipefail

want=()
need() { # need PACKAGE [FILE-THAT-PROVES-IT]
  if [ -n "${2:-}" ]; then
    compgen -G "$2" >/dev/null && return 0
  fi
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || want+=("$1")
}

need postgresql '/usr/lib/postgresql/*/bin/initdb'
# PostGIS for whichever PostgreSQL major is installed (or the distribution's default).
pgmajor=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$pgmajor" ]; then
  need "postgresql-$pgmajor-postgis-3" "/usr/share/postgresql/$pgmajor/extension/postgis.control"
else
  want+=(postgis)
fi
need libgeos-dev /usr/include/geos_c.h
need gdal-bin /usr/bin/ogr2ogr
need mosquitto /usr/sbin/mosquitto
need nats-server /usr/sbin/nats-server
need redis-server /usr/bin/redis-server # the shared tile cache's tests start their own
if [ "${CITYTWIN_NO_BROWSER:-}" != 1 ]; then
  need chromium /usr/bin/chromium
  # a CJK font, so that the browser tests' screenshots show the zh-CN UI
  need fonts-wqy-microhei /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
fi
command -v node >/dev/null || want+=(nodejs npm)

if [ ${#want[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${want[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# Debian starts services on install; citytwin runs its own private servers, so a
# broker grabbing the default ports must not be left behind by this script alone.
