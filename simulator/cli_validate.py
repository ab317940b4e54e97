"""``crtsim validate``: the scenario's design points, the quantities they imply, the team list,
the allocation space and the design's warnings, without simulating."""
from __future__ import annotations

from simulator.scenario.files import design_points, load_scenario


def cmd_validate(args) -> int:
    from simulator.outputs.echo import allocation_summary, team_list_lines
    from simulator.planning.derived import derived_quantities
    from simulator.scenario.prior_keys import prior_lines

    scenario = load_scenario(args.scenario)
    points = design_points(scenario)
    print(f"{args.scenario}: valid scenario '{scenario.name}' "
          f"({len(points)} design point(s) x {scenario.replicates} replicates, seed {scenario.seed})")
    if scenario.description:
        print(f"  {scenario.description}")
    for line in team_list_lines(scenario):
        print(f"  {line}")
    for point in points:
        if point.swept:
            print("design point " + ", ".join(f"{k} = {v}" for k, v in point.swept.items()))
        for line in prior_lines(point.scenario):
            print(f"  {line}")
        for name, value in derived_quantities(point.scenario).items():
            print(f"  {name:<60} {value}")
        for line in allocation_summary(point):
            print(f"  {line}")
    from simulator.planning.design_checks import design_warnings
    for line in design_warnings(points):
        print(f"warning: {line}")
    return 0
