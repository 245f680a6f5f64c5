#!/usr/bin/python3
"""Run one Swift server or daemon with the devcloud's own swift.conf.

  swift_server.py SWIFT_DIR proxy-server|account-server|container-server|object-server CONF -v
  swift_server.py SWIFT_DIR container-updater CONF -v    (sweeps every `interval`, in-process)

Swift reads its hash prefix/suffix and storage policies from /etc/swift/swift.conf (a module
constant) whatever `swift_dir` says; the packaged one says 'changeme'. The devcloud writes
nothing to /etc, so this wrapper points Swift at SWIFT_DIR/swift.conf before anything reads it.
"""

import sys

from swift.common import storage_policy, utils

swift_dir, kind = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
utils.set_swift_dir(swift_dir)
storage_policy.reload_storage_policies()

if kind == "container-updater":
    # Swift's own loop forks a child per device for each sweep; on a loaded 2-core machine that
    # sweep took 30 s (the same sweep in-process: 0.01 s), and account totals (what account_quotas
    # and Sahab's metering read) lagged by as much. One process, one sweep every `interval`.
    import time

    from swift.container.updater import ContainerUpdater

    conf_file, options = utils.parse_options(once=True)
    conf = utils.readconf(conf_file, "container-updater")
    updater = ContainerUpdater(conf, logger=utils.get_logger(conf, log_route="container-updater", log_to_console=True))
    interval = float(conf.get("interval", 300))
    while True:
        updater.run_once()
        time.sleep(interval)
else:
    from swift.common.wsgi import run_wsgi

    conf_file, options = utils.parse_options()
    sys.exit(run_wsgi(conf_file, kind, **options))
