# accesslog-pubsub %post: the spool directory, owned by the logger's user, 0700, created
# only when missing. It is not a file of the package, so erasing the package keeps it
# (with any records not yet published); remove it by hand. Nothing is restarted: loggers
# that httpd runs keep the program they started with until httpd's next graceful restart.
if [ ! -d /var/spool/accesslog-pubsub ]; then
    install -d -m 0700 -o accesslog-pubsub -g accesslog-pubsub /var/spool/accesslog-pubsub
fi
exit 0
