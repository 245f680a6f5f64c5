"""The devcloud's config files: the ports come from the service table, RegionTwo's files from the same
templates as RegionOne's."""

import configparser
import re
from pathlib import Path

from devcloud.sahabdevcloud import configs
from devcloud.sahabdevcloud.services import REGION_ONE, REGION_TWO, Paths, by_name, rabbit_env

STATE = Path("/var/state/devcloud")
PATHS = Paths(state=STATE, here=Path("/src/devcloud"))


def ini(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.read_string(text)
    return parser


def by_sed(text: str) -> str:
    """How RegionTwo's files used to be made from RegionOne's: nine sed expressions."""
    b = re.escape(str(STATE))
    text = re.sub(rf"{b}/(nova|cinder|neutron|placement)", rf"{STATE}/r2/\1", text)
    text = text.replace(f"{STATE}/logs/placement.log", f"{STATE}/logs/r2-placement.log", 1)
    text = re.sub(r"(?m)^(transport_url = rabbit://openstack:secret@127.0.0.1:5672/)$", r"\1r2", text)
    text = text.replace("RegionOne", "RegionTwo")
    text = re.sub(r"(?m)^(connection = .*:5433/[a-z_0-9]*)$", r"\1_r2", text)
    text = re.sub(r"(?m)^(osapi_compute_listen_port|osapi_volume_listen_port|bind_port) = ([0-9]*)$", r"\1 = 1\2", text)
    text = re.sub(r"(?m)^http-socket = 127.0.0.1:8778$", "http-socket = 127.0.0.1:18778", text)
    text = re.sub(r"(?m)^host = devcloud-compute1$", "host = devcloud-compute2", text)
    return re.sub(r"(?m)^host = devcloud-cinder$", "host = devcloud-cinder2", text)


def test_region_two_files_are_region_one_s_with_the_region_s_values():
    one = configs.region_files(PATHS, REGION_ONE)
    two = configs.region_files(PATHS, REGION_TWO)
    moved = {STATE / "r2" / path.relative_to(STATE): text for path, text in one.items()}
    assert set(two) == set(moved)
    for path, text in two.items():
        assert text == by_sed(moved[path]), path


def test_listen_ports_are_the_table_s():
    for region in (REGION_ONE, REGION_TWO):
        files = configs.region_files(PATHS, region)
        root = region.root(STATE)
        nova = ini(files[root / "nova" / "nova.conf"])
        assert nova.getint("DEFAULT", "osapi_compute_listen_port") == by_name(region.prefix + "nova-api").ports[0]
        cinder = ini(files[root / "cinder" / "cinder.conf"])
        assert cinder.getint("DEFAULT", "osapi_volume_listen_port") == by_name(region.prefix + "cinder-api").ports[0]
        neutron = ini(files[root / "neutron" / "neutron.conf"])
        assert neutron.getint("DEFAULT", "bind_port") == by_name(region.prefix + "neutron-server").ports[0]
        uwsgi = ini(files[root / "placement" / "uwsgi.ini"])
        assert uwsgi.get("uwsgi", "http-socket") == f"127.0.0.1:{by_name(region.prefix + 'placement').ports[0]}"
    shared = configs.shared_files(PATHS)
    assert ini(shared[STATE / "glance" / "glance-api.conf"]).getint("DEFAULT", "bind_port") == 9292
    swift = configs.swift_files(PATHS)
    for kind in ("account", "container", "object"):
        port = ini(swift[STATE / "swift" / f"{kind}-server.conf"]).getint("DEFAULT", "bind_port")
        assert port == by_name(f"swift-{kind}").ports[0]
    assert ini(swift[STATE / "swift" / "proxy-server.conf"]).getint("DEFAULT", "bind_port") == 8890


def test_region_two_has_its_own_databases_vhost_and_hosts():
    nova = ini(configs.region_files(PATHS, REGION_TWO)[STATE / "r2" / "nova" / "nova.conf"])
    assert nova.get("DEFAULT", "transport_url") == "rabbit://openstack:secret@127.0.0.1:5672/r2"
    assert nova.get("DEFAULT", "host") == "devcloud-compute2"
    assert nova.get("placement", "region_name") == "RegionTwo"
    db = ini(configs.region_files(PATHS, REGION_TWO)[STATE / "r2" / "nova" / "nova-db.conf"])
    assert db.get("database", "connection").endswith(":5433/nova_r2")
    assert db.get("api_database", "connection").endswith(":5433/nova_api_r2")


def test_clouds_yaml_lists_the_enabled_regions():
    one = configs.clouds_yaml(PATHS, [REGION_ONE])
    both = configs.clouds_yaml(PATHS, [REGION_ONE, REGION_TWO])
    assert "  sahab-devcloud:\n" in one and "sahab-devcloud-regiontwo" not in one
    assert both.startswith(one) and "  sahab-devcloud-regiontwo:\n" in both and "region_name: RegionTwo" in both


def test_rabbit_env_sh_is_the_broker_s_environment():
    text = configs.shared_files(PATHS)[STATE / "rabbit" / "env.sh"]
    for key, value in rabbit_env(PATHS).items():
        assert f"export {key}=" in text and value in text


def test_write_creates_directories_and_marks_wrappers_executable(tmp_path):
    paths = Paths(state=tmp_path, here=Path("/src/devcloud"))
    files = configs.shared_files(paths)
    configs.write(files)
    configs.write(files)  # unchanged files are left alone
    assert (tmp_path / "keystone" / "keystone.conf").read_text() == files[tmp_path / "keystone" / "keystone.conf"]
    assert (tmp_path / "bin" / "nova-compute").stat().st_mode & 0o111
