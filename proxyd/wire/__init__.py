"""MySQL wire protocol on top of mysql-mimic, with the fixes proxyd needs.

Everything that works around mysql-mimic's gaps lives in this package so it can shrink when
upstream fixes land: OK packets with affected rows / insert id / warnings / info text, ERR packets
with the right SQLSTATE, raw SQL without the sqlglot middleware, 1045 for unknown users.
"""
