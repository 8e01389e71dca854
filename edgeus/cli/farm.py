"""``edgeus farm agent|status``: the device farm on Ray (farm/). The head is Ray's own: ``ray start --head``."""

from __future__ import annotations

import argparse


def cmd_agent(args: argparse.Namespace) -> int:
    from edgeus.cli.args import profile_dirs
    from edgeus.farm.agent import run_agent

    return run_agent(args.address, args.profile or None, num_cpus=args.num_cpus, extra_dirs=profile_dirs(args))


def cmd_status(args: argparse.Namespace) -> int:
    from edgeus.cli.args import emit_json
    from edgeus.cli.console import print_farm_status
    from edgeus.farm.status import farm_status

    nodes = farm_status(args.address)
    print_farm_status(nodes)
    emit_json(args.json, nodes)
    return 0


def add_farm_commands(sub: argparse._SubParsersAction, profile_opts: argparse.ArgumentParser) -> None:
    from edgeus.cli.args import add_json_option

    p_farm = sub.add_parser("farm", help="a device farm on Ray: agents on the devices, builds measured on them")
    farm_sub = p_farm.add_subparsers(dest="action", metavar="ACTION")
    farm_sub.required = True
    p = farm_sub.add_parser("agent", parents=[profile_opts], help="join this device to the farm (a Ray worker node) serving the profiles its "
                                          "identity matches")
    p.add_argument("--address", required=True, help="the Ray head, host:port (from 'ray start --head')")
    p.add_argument("--profile", action="append", help="serve only this profile (repeatable); refused with the reason "
                                                      "when the device does not match it")
    p.add_argument("--num-cpus", type=int, help="CPUs Ray may schedule here (default: Ray's count)")
    p.set_defaults(handler=cmd_agent)
    p = farm_sub.add_parser("status", help="the farm's devices, their identity and the profiles each serves")
    p.add_argument("--address", required=True)
    add_json_option(p, "also write the node list as JSON to FILE ('-': standard output)")
    p.set_defaults(handler=cmd_status)
