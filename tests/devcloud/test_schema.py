"""The cold start's schema jobs, per component and region."""

from pathlib import Path

from devcloud.sahabdevcloud import schema
from devcloud.sahabdevcloud.services import REGION_ONE, REGION_TWO, TABLE, Paths

PATHS = Paths(state=Path("/s"), here=Path("/d"))


def test_jobs_and_their_log_names():
    assert schema.jobs(REGION_ONE) == ["keystone", "placement", "glance", "nova", "cinder", "neutron"]
    assert schema.jobs(REGION_TWO) == ["r2placement", "r2nova", "r2cinder", "r2neutron"]
    assert schema.component_of("r2nova", REGION_TWO) == "nova"
    # every service with a schema job belongs to one of them (Swift has none)
    assert {s.job for s in TABLE if s.job} - set(schema.COMPONENTS) == {"swift"}


def test_region_two_s_steps_use_its_configs_and_databases():
    nova = [step.argv for step in schema.steps("nova", PATHS, REGION_TWO)]
    assert all("/s/r2/nova/nova.conf" in argv and "/s/r2/nova/nova-db.conf" in argv for argv in nova)
    map_cell0 = nova[1]
    assert map_cell0[-2:] == [
        "--database_connection",
        "postgresql+psycopg2://openstack:secret@127.0.0.1:5433/nova_cell0_r2",
    ]
    (neutron,) = schema.steps("neutron", PATHS, REGION_TWO)
    assert "/s/r2/neutron/ml2_conf.ini" in neutron.argv


def test_keystone_keys_are_made_once(tmp_path):
    paths = Paths(state=tmp_path, here=Path("/d"))
    fernet, credential, *_ = schema.steps("keystone", paths, REGION_ONE)
    assert fernet.done is not None and not fernet.done()
    (tmp_path / "keystone" / "fernet-keys").mkdir(parents=True)
    (tmp_path / "keystone" / "fernet-keys" / "0").write_text("key")
    assert fernet.done() and credential.done is not None and not credential.done()
