#!/bin/sh
# Rebuilds the excerpts in this folder from the full corpus (see README.md).
# Usage: sh corpus/excerpt.sh /path/to/full/corpus   (run from the repository root)
set -eu
src=${1:?usage: excerpt.sh FULL_CORPUS_DIR}
dst=$(dirname "$0")

# take FOLDER/FILE LINES: the first LINES lines of FOLDER/FILE (0 = the whole file),
# plus the folder's UPSTREAM-LICENSE, copied verbatim.
take() {
    folder=${1%%/*}
    mkdir -p "$dst/$(dirname "$1")"
    cp "$src/$folder/UPSTREAM-LICENSE" "$dst/$folder/UPSTREAM-LICENSE"
    if [ "$2" = 0 ]; then
        cp "$src/$1" "$dst/$1"
    else
        head -n "$2" "$src/$1" >"$dst/$1"
    fi
}

take elastic-apache-access/apache_logs 1200
take elastic-auth-syslog/auth.log 800
take elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-20 0
take elastic-kafka-log4j/kafka1/logs/server.log.2016-12-19-20 0
take jboss-eap-java-multiline/realworld.append 800
for f in exception-maven exception-with-causes exception-with-causes2 \
    exception-with-line-prefix issue-57_1 issue-57_2; do
    take "jboss-eap-java-multiline/exceptions/$f.txt" 0
done
take kubelet-windows-klog/kubelet.log 2000
take otrf-zeek-json/apt29/day1/zeek/combined_zeek.log 400
take audit2rbac-k8s-audit-json/demo.log 0
take otrf-windows-eventlog-json/psh_python_webserver_2020-10-2900161507.json 40
chmod -R u+w "$dst"
