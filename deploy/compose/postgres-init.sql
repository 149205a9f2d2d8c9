-- One database (and owner) per service: each service owns its data (ARCHITECTURE.md).
-- Local development only: the password is the role name.
CREATE ROLE carepath_intake LOGIN PASSWORD 'carepath_intake';
CREATE DATABASE carepath_intake OWNER carepath_intake;
CREATE ROLE carepath_eligibility LOGIN PASSWORD 'carepath_eligibility';
CREATE DATABASE carepath_eligibility OWNER carepath_eligibility;
CREATE ROLE carepath_session LOGIN PASSWORD 'carepath_session';
CREATE DATABASE carepath_session OWNER carepath_session;
CREATE ROLE carepath_integration LOGIN PASSWORD 'carepath_integration';
CREATE DATABASE carepath_integration OWNER carepath_integration;
CREATE ROLE carepath_dashboard LOGIN PASSWORD 'carepath_dashboard';
CREATE DATABASE carepath_dashboard OWNER carepath_dashboard;
CREATE ROLE carepath_audit LOGIN PASSWORD 'carepath_audit';
CREATE DATABASE carepath_audit OWNER carepath_audit;
