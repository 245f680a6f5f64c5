"""Every file the devcloud writes into its state directory (rewritten by each `up`). The regional files
are rendered for a `Region`, so RegionTwo's come from the same templates as RegionOne's."""

from __future__ import annotations

import getpass
from pathlib import Path

from .services import (
    AUTH_URL,
    CINDER_PORT,
    DB_URL,
    GLANCE_PORT,
    HOST,
    KEYSTONE_PORT,
    NEUTRON_PORT,
    NOVA_PORT,
    PLACEMENT_PORT,
    RABBIT_PORT,
    REGION_ONE,
    SWIFT_PORTS,
    SWIFT_PROXY_PORT,
    Paths,
    Region,
    rabbit_env,
)

Files = dict[Path, str]

RABBIT_RETRY = """[oslo_messaging_rabbit]
# services may start while RabbitMQ is still booting: retry every second instead of backing off
rabbit_retry_interval = 1
rabbit_retry_backoff = 0
rabbit_interval_max = 1
"""


def ks_auth(user: str, region: Region = REGION_ONE) -> str:
    """A keystone password auth section body."""
    return f"""auth_url = {AUTH_URL}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = {user}
password = secret
region_name = {region.name}
"""


def authtoken(user: str, region: Region = REGION_ONE) -> str:
    return f"www_authenticate_uri = {AUTH_URL}\n" + ks_auth(user, region)


def shared_files(p: Paths) -> Files:
    """Keystone, glance, RabbitMQ, the entry-point wrappers, openrc and clouds.yaml."""
    b = p.state
    files: Files = {}
    files[b / "keystone" / "keystone.conf"] = f"""[DEFAULT]
log_file = {b}/logs/keystone.log
[database]
connection = {DB_URL}/keystone
[identity]
# bcrypt cost 4 instead of 12: much faster user creation/authentication (test cloud only)
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = {b}/keystone/fernet-keys
[credential]
key_repository = {b}/keystone/credential-keys
"""
    files[b / "keystone" / "uwsgi.ini"] = f"""[uwsgi]
plugins = python3
master = true
processes = 2
threads = 4
http-socket = {HOST}:{KEYSTONE_PORT}
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES={b}/keystone/keystone.conf
die-on-term = true
buffer-size = 65535
# uwsgi http-socket closes every connection; without this header clients that reuse
# keep-alive connections get random "Connection reset by peer"
add-header = Connection: close
"""
    files[b / "glance" / "glance-api.conf"] = f"""[DEFAULT]
bind_host = {HOST}
bind_port = {GLANCE_PORT}
workers = 1
log_file = {b}/logs/glance-api.log
graceful_shutdown_timeout = 5
enabled_backends = fs:file
image_cache_dir = {b}/glance/cache
[database]
connection = {DB_URL}/glance
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {b}/glance/images
[os_glance_staging_store]
filesystem_store_datadir = {b}/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = {b}/glance/tasks
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = {b}/glance/lock
[keystone_authtoken]
{authtoken("glance")}"""
    files[b / "rabbit" / "rabbitmq.conf"] = f"""listeners.tcp.default = {HOST}:{RABBIT_PORT}
default_user = openstack
default_pass = secret
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
"""
    files[b / "rabbit" / "enabled_plugins"] = "[].\n"
    # for people and rabbitmqctl: the same environment the broker gets (services.rabbit_env)
    env = rabbit_env(p)
    files[b / "rabbit" / "env.sh"] = "".join(f"export {k}={_sh_quote(v)}\n" for k, v in env.items())
    files[b / "bin" / "nova-compute"] = (
        "#!/usr/bin/python3\nimport sys\nfrom nova.cmd.compute import main\nsys.exit(main())\n"
    )
    files[b / "bin" / "cinder-volume"] = (
        "#!/usr/bin/python3\nimport sys\nfrom cinder.cmd.volume import main\nsys.exit(main())\n"
    )
    files[b / "openrc"] = f"""export OS_AUTH_URL={AUTH_URL} OS_USERNAME=admin OS_PASSWORD=secret OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3 OS_INTERFACE=public
"""
    return files


def _sh_quote(value: str) -> str:
    return value if all(c.isalnum() or c in "/._-@:" for c in value) else '"' + value + '"'


def cloud_entry(name: str, region: Region) -> str:
    return f"""  {name}:
    auth:
      auth_url: {AUTH_URL}
      username: admin
      password: secret
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: {region.name}
    identity_api_version: 3
    interface: public
"""


def cloud_name(region: Region) -> str:
    return "sahab-devcloud" if region == REGION_ONE else "sahab-devcloud-" + region.name.lower()


def clouds_yaml(p: Paths, regions: list[Region]) -> str:
    head = f"# written by devcloud/sahab-devcloud; use with OS_CLIENT_CONFIG_FILE={p.state}/clouds.yaml\nclouds:\n"
    return head + "".join(cloud_entry(cloud_name(r), r) for r in regions)


def region_files(p: Paths, r: Region) -> Files:
    """Placement, nova, cinder and neutron of one region."""
    b = p.state
    root = r.root(b)
    port = r.port_offset
    files: Files = {}
    files[root / "placement" / "placement.conf"] = f"""[DEFAULT]
log_file = {b}/logs/{r.prefix}placement.log
[placement_database]
connection = {r.db("placement")}
[api]
auth_strategy = keystone
[keystone_authtoken]
{authtoken("placement", r)}"""
    files[root / "placement" / "uwsgi.ini"] = f"""[uwsgi]
plugins = python3
master = true
processes = 1
threads = 8
enable-threads = true
lazy-apps = true
http-socket = {HOST}:{PLACEMENT_PORT + port}
wsgi-file = /usr/bin/placement-api
env = OS_PLACEMENT_CONFIG_DIR={root}/placement
die-on-term = true
buffer-size = 65535
add-header = Connection: close
"""
    files[root / "nova" / "nova.conf"] = f"""[DEFAULT]
transport_url = {r.transport_url}
my_ip = {HOST}
host = {r.compute_host}
state_path = {root}/nova/state
instances_path = {root}/nova/state/instances
enabled_apis = osapi_compute
osapi_compute_listen = {HOST}
osapi_compute_listen_port = {NOVA_PORT + port}
osapi_compute_workers = 1
graceful_shutdown_timeout = 5
# periodic tasks (e.g. the scheduler's host discovery) start after a random 0-60 s delay by default
periodic_fuzzy_delay = 0
compute_driver = fake.FakeDriver
{RABBIT_RETRY}[api]
auth_strategy = keystone
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[conductor]
workers = 1
[scheduler]
workers = 1
# scheduler maps new compute hosts to cell1 itself (no 'nova-manage cell_v2 discover_hosts' needed)
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = {root}/nova/lock
[vnc]
enabled = false
[keystone_authtoken]
{authtoken("nova", r)}[placement]
{ks_auth("placement", r)}valid_interfaces = public
[neutron]
{ks_auth("neutron", r)}valid_interfaces = public
# nova must send a service token (user with role 'service') to cinder, otherwise deleting a
# boot-from-volume server leaves the volume 'in-use' (cinder ConflictNovaUsingAttachment)
[service_user]
{ks_auth("nova", r)}send_service_user_token = true
[glance]
region_name = {r.name}
valid_interfaces = public
[cinder]
os_region_name = {r.name}
"""
    # DB URLs separate: nova-compute gets only nova.conf (it must not have DB access)
    files[root / "nova" / "nova-db.conf"] = f"""[api_database]
connection = {r.db("nova_api")}
[database]
connection = {r.db("nova")}
"""
    files[root / "cinder" / "cinder.conf"] = f"""[DEFAULT]
transport_url = {r.transport_url}
auth_strategy = keystone
my_ip = {HOST}
host = {r.volume_host}
state_path = {root}/cinder/state
osapi_volume_listen = {HOST}
osapi_volume_listen_port = {CINDER_PORT + port}
osapi_volume_workers = 1
graceful_shutdown_timeout = 5
api_paste_config = /etc/cinder/api-paste.ini
periodic_fuzzy_delay = 0
enabled_backends = fake
default_volume_type = __DEFAULT__
[database]
connection = {r.db("cinder")}
{RABBIT_RETRY}[oslo_concurrency]
lock_path = {root}/cinder/lock
[keystone_authtoken]
{authtoken("cinder", r)}[nova]
{ks_auth("cinder", r)}interface = public
[fake]
# no LVM/iSCSI: logging fake driver shipped in python3-cinder (cinder/tests/fake_driver.py)
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
"""
    files[root / "neutron" / "neutron.conf"] = f"""[DEFAULT]
transport_url = {r.transport_url}
auth_strategy = keystone
core_plugin = ml2
service_plugins = router
bind_host = {HOST}
bind_port = {NEUTRON_PORT + port}
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
graceful_shutdown_timeout = 5
state_path = {root}/neutron/state
api_paste_config = /etc/neutron/api-paste.ini
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
[database]
connection = {r.db("neutron")}
{RABBIT_RETRY}[oslo_concurrency]
lock_path = {root}/neutron/lock
[oslo_policy]
policy_dirs = /etc/neutron/policy.d
[keystone_authtoken]
{authtoken("neutron", r)}[nova]
{ks_auth("nova", r)}"""
    files[root / "neutron" / "ml2_conf.ini"] = """[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
# devcloud_noop (devcloud/pylib, on neutron-server's PYTHONPATH): binds every port, no agent.
# With an empty list networks/ports work but nova boots with a NIC fail with PortBindingFailed.
mechanism_drivers = devcloud_noop
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1:1000
[securitygroup]
enable_security_group = true
"""
    return files


def region_dirs(p: Paths, r: Region) -> list[Path]:
    root = r.root(p.state)
    dirs = [root / d for d in ("nova/state/instances", "nova/lock", "cinder/state", "cinder/lock")]
    dirs += [root / d for d in ("neutron/state", "neutron/lock", "placement")]
    return dirs


def shared_dirs(p: Paths) -> list[Path]:
    b = p.state
    names = ["keystone/fernet-keys", "keystone/credential-keys", "placement", "rabbit/log", "bin"]
    names += [f"glance/{d}" for d in ("images", "staging", "tasks", "cache", "lock")]
    return [b / n for n in names]


# ---------------------------------------------------------------- Swift (RegionOne only)
def swift_files(p: Paths) -> Files:
    """Object storage: proxy + account/container/object servers and the container updater (it carries
    object bytes from the containers into the account's totals, which account_quotas and Sahab's
    metering read). One device directory, mount_check off, one replica (rings: cloud.swift_rings)."""
    s = p.swift
    user = getpass.getuser()
    files: Files = {}
    files[s / "swift.conf"] = """[swift-hash]
swift_hash_path_prefix = sahab-devcloud
swift_hash_path_suffix = sahab-devcloud
[storage-policy:0]
name = Policy-0
default = yes
[swift-constraints]
"""
    for kind in ("account", "container", "object"):
        files[s / f"{kind}-server.conf"] = f"""[DEFAULT]
bind_ip = {HOST}
bind_port = {SWIFT_PORTS[kind]}
# no forked workers: one process per server is plenty on loopback (and the least memory)
workers = 0
swift_dir = {s}
devices = {s}/node
mount_check = false
log_name = swift-{kind}
# Swift drops privileges to user 'swift' by default; everything of the devcloud runs as its caller
user = {user}
recon_cache_path = {s}/recon
[pipeline:main]
pipeline = {kind}-server
[app:{kind}-server]
use = egg:swift#{kind}
[{kind}-replicator]
[{kind}-auditor]
[{kind}-updater]
# the account totals (bytes, objects) follow the containers within seconds instead of 300 s, with
# no rate limit (swift_server.py runs the sweeps in-process)
interval = 2
containers_per_second = 0
"""
    files[s / "proxy-server.conf"] = f"""[DEFAULT]
bind_ip = {HOST}
bind_port = {SWIFT_PROXY_PORT}
workers = 0
swift_dir = {s}
log_name = swift-proxy
user = {user}
[pipeline:main]
# no memcache here: authtoken caches tokens in-process and the proxy reads account/container
# info from the servers each request (fine on loopback)
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk authtoken s3api s3token keystoneauth copy container-quotas account-quotas slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:s3api]
use = egg:swift#s3api
# the SigV4 credential scope region clients must use (aws --region RegionOne)
location = RegionOne
[filter:s3token]
use = egg:swift#s3token
auth_uri = {AUTH_URL}
reseller_prefix = AUTH_
# Debian's keystone 22.0.2 security update lets only service users or admins call /v3/s3tokens
# (policy identity:s3tokens_validate; unauthenticated calls get 401 = SignatureDoesNotMatch)
{ks_auth("swift")}[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = True
{authtoken("swift")}[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
# holders of this role may set X-Account-Meta-Quota-Bytes on any account (Sahab's admin user)
reseller_admin_role = ResellerAdmin
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
"""
    return files


def swift_dirs(p: Paths) -> list[Path]:
    return [p.swift / "node" / "d1", p.swift / "recon"]


def write(files: Files) -> None:
    """Write each file (only when its content changed), creating its directory."""
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    for path in files:
        if path.parent.name == "bin":  # the entry-point wrappers
            path.chmod(0o755)
