# bench/lib.sh: what bench/run.sh and bench/cost.sh share, so that both
# measure the same nginx the same way. Source it; it defines functions only.

# write_nginx_conf DIR PORT ROOT [EXTRA]: DIR/nginx.conf serving ROOT on
# 127.0.0.1:PORT as issue 6 asks (sendfile on, tcp_nopush off, keep-alive
# requests raised, access log off, 2 workers), with every path inside DIR.
# EXTRA is added to the http block as it is: nginx_ofc below passes
# nginx_open_file_cache.
write_nginx_conf() {
  local dir=$1 port=$2 root=$3 extra=${4:-}
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOC
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 8192;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 100000;
  $extra
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root;
    location / { }
  }
}
EOC
}

# nginx_open_file_cache: the second nginx target of issue 14, tuned as an
# operator would once rangeserve keeps descriptors open too (nginx's own
# defaults for open_file_cache_valid, 60s, and _min_uses, 1).
nginx_open_file_cache='open_file_cache max=10000 inactive=60s;'

# with_children PID: PID and the pids of its direct children (nginx's
# workers).
with_children() {
  local pid=$1 f line rest
  echo "$pid"
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    [ "$2" = "$pid" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
  done
  return 0
}

# cpu_ticks_of PID...: utime+stime (fields 14 and 15 of /proc/PID/stat),
# summed, in clock ticks.
cpu_ticks_of() {
  local sum=0 pid line rest
  for pid in "$@"; do
    { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest # $1 is field 3 (state), so field N is $((N-2))
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}
