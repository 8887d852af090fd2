"""Plans: the pure planner (desired x observed -> Plan), the plan value and its operations, saved plans."""
