#!/bin/sh
# The backup drill's SQLite writer: a TEST FIXTURE of the lab, not an app. It stands for an app that
# keeps its data in SQLite (Home Assistant's recorder, Vaultwarden, Forgejo): it commits a
# transaction every few milliseconds into /data/app.db, each inserting a row and counting it in the
# same transaction, so a copy taken mid-write shows as rows != counter or a failed integrity check.
#
# At start, before it writes anything, it checks the database it finds (the one a restore left) and
# prints one line: `startup-check rows=<n> counter=<n> integrity=<ok|…>`. On SIGTERM (Swarm scaling
# it to 0) it ends after the transaction in flight, as an app shuts down.
set -eu
db=/data/app.db
if [ -f "$db" ]; then
  rows="$(sqlite3 "$db" 'SELECT count(*) FROM rows;' 2>&1 || true)"
  counter="$(sqlite3 "$db" 'SELECT n FROM counter;' 2>&1 || true)"
  integrity="$(sqlite3 "$db" 'PRAGMA integrity_check;' 2>&1 | tr '\n' ' ' | sed 's/ $//' || true)"
  echo "startup-check rows=$rows counter=$counter integrity=$integrity"
else
  echo "startup-check none"
fi
sqlite3 "$db" 'PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counter(n INTEGER NOT NULL);
INSERT INTO counter SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM counter);' >/dev/null
stop=0
trap 'stop=1' TERM INT
echo "writing"
while [ "$stop" = 0 ]; do
  sqlite3 "$db" 'BEGIN IMMEDIATE; INSERT INTO rows(payload) VALUES (hex(randomblob(256))); UPDATE counter SET n = n + 1; COMMIT;'
  sleep 0.02
done
echo "stopped rows=$(sqlite3 "$db" 'SELECT count(*) FROM rows;')"
