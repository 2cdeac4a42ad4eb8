# Test lists, read by the Makefile and by test/run.sh.
REGRESS = setup tagging park drop truncate drop_fixes dml dml_gaps tamper blast redteam_rowlimit upgrade counters rewrite perf_red tamper_ddl rw_red permit
ISOLATION = tag_visibility permit_race decide_race park_race permit_expiry
