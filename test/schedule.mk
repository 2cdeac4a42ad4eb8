# Test lists, read by the Makefile and by test/run.sh.
REGRESS = setup tagging park drop truncate drop_implicit dml dml_plans tamper rowlimit rowlimit_paths upgrade counters rewrite hot_path tamper_ddl rewrite_tamper writer_rate temp_dependency unlogged matview_refresh rename_swap database_alter permit created_roles tamper_notify wait grants approvals check
ISOLATION = tag_visibility permit_race decide_race park_race rewrite_concurrent permit_expiry grant_race
