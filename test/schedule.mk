# Test lists, read by the Makefile and by test/run.sh.
REGRESS = setup tagging
ISOLATION = tag_visibility
