#!/usr/bin/python3
"""Run one Swift server or daemon with the devcloud's own swift.conf.

  swift_server.py SWIFT_DIR proxy-server|account-server|container-server|object-server CONF -v
  swift_server.py SWIFT_DIR container-updater CONF -v

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

if kind == 'container-updater':
    from swift.common.daemon import run_daemon
    from swift.container.updater import ContainerUpdater
    conf_file, options = utils.parse_options(once=True)
    run_daemon(ContainerUpdater, conf_file, **options)
else:
    from swift.common.wsgi import run_wsgi
    conf_file, options = utils.parse_options()
    sys.exit(run_wsgi(conf_file, kind, **options))
