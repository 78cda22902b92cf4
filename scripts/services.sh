#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres without a password)
# and RabbitMQ (127.0.0.1:5672, guest/guest) are running, for the pipeline's
# tests and benchmark. Installs them from Debian's packages when missing;
# on a server it installed itself, lets local TCP connections in without a
# password (as on the project's machines).
set -euo pipefail

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
amqp_up() { (echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "services: installing PostgreSQL"
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    sudo_ sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  sudo_ pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
fi
if ! amqp_up; then
  if ! command -v rabbitmq-server >/dev/null; then
    echo "services: installing RabbitMQ"
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  sudo_ rabbitmq-server -detached || true
  sudo_ rabbitmqctl await_startup --timeout 120 >/dev/null || true
fi
pg_up || { echo "services: PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
amqp_up || { echo "services: RabbitMQ is not answering on 127.0.0.1:5672" >&2; exit 1; }
