/* agent_guard--1.1--1.2.sql: hardening (permits bound to what the server understood, expiry that never waits on an agent's lock) */

\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit
