"""Agent-less ML2 mechanism driver for the Sahab devcloud (test clouds only).

Binds every port on the first segment it is offered (vif_type ovs, status ACTIVE)
so that Nova can boot servers with NICs while no L2 agent, OVS or OVN runs.
Loaded by neutron-server through the entry point in devcloud_mech-0.1.dist-info
(this directory is put on neutron-server's PYTHONPATH by sahab-devcloud).
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class NoopBindMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
