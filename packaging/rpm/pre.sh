# accesslog-pubsub %pre: the system user and group the logger is meant to run as, created
# only when missing.
if ! getent group accesslog-pubsub >/dev/null; then
    groupadd --system accesslog-pubsub
fi
if ! getent passwd accesslog-pubsub >/dev/null; then
    useradd --system --gid accesslog-pubsub --no-create-home --home-dir / \
        --shell /sbin/nologin --comment "accesslog-pubsub piped logger" accesslog-pubsub
fi
exit 0
