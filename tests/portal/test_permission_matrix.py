"""Who may do what: every URL pattern of the project (from the URL resolver) × every role × GET
and POST, with the status each must get. The table below IS the documentation (README links it).

A URL added to any urls.py, or a model registered in admin, makes this test fail until it has its
rows: run ``PRINT_MATRIX=1 pytest tests/portal/test_permission_matrix.py -s`` to print the observed table,
check every cell against the rules, and paste it here.

Each request is sent with real parameters (an existing pending request, policy, flag, ...; see
tests/urlwalk.py) and an empty POST body, so a status tells whether the person got in, not what a
valid form would do. Codes: 200 the page; 302 a redirect (to the login page for anonymous and
inactive people and for non-staff in admin; after a POST, the usual redirect); 400 a refused
input (a form on the request page comes back with its errors); 403 no permission; 404 not found
or not theirs to see; 405 wrong method.

Roles: anon (not logged in), inact (an inactive rep), nogrp (logged in, no group), rep, repR (rep
with a tier-2 right), ap1 (approver at level 1 of the policy), ap2 (level 2), stand (an approver
standing in for ap1 today), padm (policy admin, staff), super (superuser).
"""

from __future__ import annotations

import os
import re

import pytest
from django.urls import reverse

from tests.urlwalk import ROLES, all_routes

pytestmark = pytest.mark.django_db

COLUMNS = ["anon", "inact", "nogrp", "rep", "repR", "ap1", "ap2", "stand", "padm", "super"]
assert len(COLUMNS) == len(ROLES)

MATRIX = """
# url name (or pattern)                                        anon inact nogrp   rep  repR   ap1   ap2 stand  padm super
home                                                     GET    302   302   403   302   302   302   302   302   302   302
home                                                     POST   302   302   405   405   405   405   405   405   405   405
login                                                    GET    200   200   302   302   302   302   302   302   302   302
login                                                    POST   200   200   302   302   302   302   302   302   302   302
logout                                                   GET    302   302   200   200   200   200   200   200   200   200
logout                                                   POST   302   302   302   302   302   302   302   302   302   302
admin:index                                              GET    302   302   302   302   302   302   302   302   200   200
admin:index                                              POST   302   302   302   302   302   302   302   302   200   200
admin:login                                              GET    200   200   200   200   200   200   200   200   302   302
admin:login                                              POST   200   200   200   200   200   200   200   200   200   200
admin:logout                                             GET    302   302   302   302   302   302   302   302   405   405
admin:logout                                             POST   302   302   302   302   302   302   302   302   302   302
admin:password_change                                    GET    302   302   302   302   302   302   302   302   200   200
admin:password_change                                    POST   302   302   302   302   302   302   302   302   200   200
admin:password_change_done                               GET    302   302   302   302   302   302   302   302   200   200
admin:password_change_done                               POST   302   302   302   302   302   302   302   302   405   405
admin:autocomplete                                       GET    302   302   302   302   302   302   302   302   403   403
admin:autocomplete                                       POST   302   302   302   302   302   302   302   302   405   405
admin:jsi18n                                             GET    302   302   302   302   302   302   302   302   200   200
admin:jsi18n                                             POST   302   302   302   302   302   302   302   302   405   405
admin:view_on_site                                       GET    302   302   302   302   302   302   302   302   404   404
admin:view_on_site                                       POST   302   302   302   302   302   302   302   302   404   404
admin:auth_group_changelist                              GET    302   302   302   302   302   302   302   302   403   200
admin:auth_group_changelist                              POST   302   302   302   302   302   302   302   302   403   200
admin:auth_group_add                                     GET    302   302   302   302   302   302   302   302   403   200
admin:auth_group_add                                     POST   302   302   302   302   302   302   302   302   403   200
admin:auth_group_history                                 GET    302   302   302   302   302   302   302   302   403   200
admin:auth_group_history                                 POST   302   302   302   302   302   302   302   302   403   200
admin:auth_group_delete                                  GET    302   302   302   302   302   302   302   302   403   200
admin:auth_group_delete                                  POST   302   302   302   302   302   302   302   302   403   200
admin:auth_group_change                                  GET    302   302   302   302   302   302   302   302   403   200
admin:auth_group_change                                  POST   302   302   302   302   302   302   302   302   403   200
admin:admin/auth/group/<path:object_id>/                 GET    302   302   302   302   302   302   302   302   302   302
admin:admin/auth/group/<path:object_id>/                 POST   302   302   302   302   302   302   302   302   302   302
admin:auth_user_password_change                          GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_password_change                          POST   302   302   302   302   302   302   302   302   403   200
admin:auth_user_changelist                               GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_changelist                               POST   302   302   302   302   302   302   302   302   403   200
admin:auth_user_add                                      GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_add                                      POST   302   302   302   302   302   302   302   302   403   200
admin:auth_user_history                                  GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_history                                  POST   302   302   302   302   302   302   302   302   403   200
admin:auth_user_delete                                   GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_delete                                   POST   302   302   302   302   302   302   302   302   403   200
admin:auth_user_change                                   GET    302   302   302   302   302   302   302   302   403   200
admin:auth_user_change                                   POST   302   302   302   302   302   302   302   302   403   200
admin:admin/auth/user/<path:object_id>/                  GET    302   302   302   302   302   302   302   302   302   302
admin:admin/auth/user/<path:object_id>/                  POST   302   302   302   302   302   302   302   302   302   302
admin:axes_accessattempt_changelist                      GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_changelist                      POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_add                             GET    302   302   302   302   302   302   302   302   403   403
admin:axes_accessattempt_add                             POST   302   302   302   302   302   302   302   302   403   403
admin:axes_accessattempt_history                         GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_history                         POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_delete                          GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_delete                          POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_change                          GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessattempt_change                          POST   302   302   302   302   302   302   302   302   403   302
admin:admin/axes/accessattempt/<path:object_id>/         GET    302   302   302   302   302   302   302   302   302   302
admin:admin/axes/accessattempt/<path:object_id>/         POST   302   302   302   302   302   302   302   302   302   302
admin:axes_accesslog_changelist                          GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_changelist                          POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_add                                 GET    302   302   302   302   302   302   302   302   403   403
admin:axes_accesslog_add                                 POST   302   302   302   302   302   302   302   302   403   403
admin:axes_accesslog_history                             GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_history                             POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_delete                              GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_delete                              POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_change                              GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accesslog_change                              POST   302   302   302   302   302   302   302   302   403   302
admin:admin/axes/accesslog/<path:object_id>/             GET    302   302   302   302   302   302   302   302   302   302
admin:admin/axes/accesslog/<path:object_id>/             POST   302   302   302   302   302   302   302   302   302   302
admin:axes_accessfailurelog_changelist                   GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_changelist                   POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_add                          GET    302   302   302   302   302   302   302   302   403   403
admin:axes_accessfailurelog_add                          POST   302   302   302   302   302   302   302   302   403   403
admin:axes_accessfailurelog_history                      GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_history                      POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_delete                       GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_delete                       POST   302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_change                       GET    302   302   302   302   302   302   302   302   403   200
admin:axes_accessfailurelog_change                       POST   302   302   302   302   302   302   302   302   403   302
admin:admin/axes/accessfailurelog/<path:object_id>/      GET    302   302   302   302   302   302   302   302   302   302
admin:admin/axes/accessfailurelog/<path:object_id>/      POST   302   302   302   302   302   302   302   302   302   302
admin:policies_policy_simple_history                     GET    302   302   302   302   302   302   302   302   200   200
admin:policies_policy_simple_history                     POST   302   302   302   302   302   302   302   302   405   405
admin:policies_policy_changelist                         GET    302   302   302   302   302   302   302   302   200   200
admin:policies_policy_changelist                         POST   302   302   302   302   302   302   302   302   200   200
admin:policies_policy_add                                GET    302   302   302   302   302   302   302   302   200   200
admin:policies_policy_add                                POST   302   302   302   302   302   302   302   302   200   200
admin:policies_policy_history                            GET    302   302   302   302   302   302   302   302   200   200
admin:policies_policy_history                            POST   302   302   302   302   302   302   302   302   200   200
admin:policies_policy_delete                             GET    302   302   302   302   302   302   302   302   403   403
admin:policies_policy_delete                             POST   302   302   302   302   302   302   302   302   403   403
admin:policies_policy_change                             GET    302   302   302   302   302   302   302   302   200   200
admin:policies_policy_change                             POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/policy/<path:object_id>/            GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/policy/<path:object_id>/            POST   302   302   302   302   302   302   302   302   302   302
admin:policies_problemtype_simple_history                GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_simple_history                POST   302   302   302   302   302   302   302   302   405   405
admin:policies_problemtype_changelist                    GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_changelist                    POST   302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_add                           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_add                           POST   302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_history                       GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_history                       POST   302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_delete                        GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_delete                        POST   302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_change                        GET    302   302   302   302   302   302   302   302   200   200
admin:policies_problemtype_change                        POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/problemtype/<path:object_id>/       GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/problemtype/<path:object_id>/       POST   302   302   302   302   302   302   302   302   302   302
admin:policies_exceptiontier_simple_history              GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_simple_history              POST   302   302   302   302   302   302   302   302   405   405
admin:policies_exceptiontier_changelist                  GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_changelist                  POST   302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_add                         GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_add                         POST   302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_history                     GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_history                     POST   302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_delete                      GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_delete                      POST   302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_change                      GET    302   302   302   302   302   302   302   302   200   200
admin:policies_exceptiontier_change                      POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/exceptiontier/<path:object_id>/     GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/exceptiontier/<path:object_id>/     POST   302   302   302   302   302   302   302   302   302   302
admin:policies_control_simple_history                    GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_simple_history                    POST   302   302   302   302   302   302   302   302   405   405
admin:policies_control_changelist                        GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_changelist                        POST   302   302   302   302   302   302   302   302   200   200
admin:policies_control_add                               GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_add                               POST   302   302   302   302   302   302   302   302   200   200
admin:policies_control_history                           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_history                           POST   302   302   302   302   302   302   302   302   200   200
admin:policies_control_delete                            GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_delete                            POST   302   302   302   302   302   302   302   302   200   200
admin:policies_control_change                            GET    302   302   302   302   302   302   302   302   200   200
admin:policies_control_change                            POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/control/<path:object_id>/           GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/control/<path:object_id>/           POST   302   302   302   302   302   302   302   302   302   302
admin:policies_repright_simple_history                   GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_simple_history                   POST   302   302   302   302   302   302   302   302   405   405
admin:policies_repright_changelist                       GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_changelist                       POST   302   302   302   302   302   302   302   302   200   200
admin:policies_repright_add                              GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_add                              POST   302   302   302   302   302   302   302   302   200   200
admin:policies_repright_history                          GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_history                          POST   302   302   302   302   302   302   302   302   200   200
admin:policies_repright_delete                           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_delete                           POST   302   302   302   302   302   302   302   302   200   200
admin:policies_repright_change                           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_repright_change                           POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/repright/<path:object_id>/          GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/repright/<path:object_id>/          POST   302   302   302   302   302   302   302   302   302   302
admin:policies_approverlevel_simple_history              GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_simple_history              POST   302   302   302   302   302   302   302   302   405   405
admin:policies_approverlevel_changelist                  GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_changelist                  POST   302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_add                         GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_add                         POST   302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_history                     GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_history                     POST   302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_delete                      GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_delete                      POST   302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_change                      GET    302   302   302   302   302   302   302   302   200   200
admin:policies_approverlevel_change                      POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/approverlevel/<path:object_id>/     GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/approverlevel/<path:object_id>/     POST   302   302   302   302   302   302   302   302   302   302
admin:policies_businesscalendar_simple_history           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_simple_history           POST   302   302   302   302   302   302   302   302   405   405
admin:policies_businesscalendar_changelist               GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_changelist               POST   302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_add                      GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_add                      POST   302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_history                  GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_history                  POST   302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_delete                   GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_delete                   POST   302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_change                   GET    302   302   302   302   302   302   302   302   200   200
admin:policies_businesscalendar_change                   POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/businesscalendar/<path:object_id>/  GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/businesscalendar/<path:object_id>/  POST   302   302   302   302   302   302   302   302   302   302
admin:policies_holiday_simple_history                    GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_simple_history                    POST   302   302   302   302   302   302   302   302   405   405
admin:policies_holiday_changelist                        GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_changelist                        POST   302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_add                               GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_add                               POST   302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_history                           GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_history                           POST   302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_delete                            GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_delete                            POST   302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_change                            GET    302   302   302   302   302   302   302   302   200   200
admin:policies_holiday_change                            POST   302   302   302   302   302   302   302   302   200   200
admin:admin/policies/holiday/<path:object_id>/           GET    302   302   302   302   302   302   302   302   302   302
admin:admin/policies/holiday/<path:object_id>/           POST   302   302   302   302   302   302   302   302   302   302
admin:requests_exceptionrequest_simple_history           GET    302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_simple_history           POST   302   302   302   302   302   302   302   302   405   405
admin:requests_exceptionrequest_changelist               GET    302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_changelist               POST   302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_add                      GET    302   302   302   302   302   302   302   302   403   403
admin:requests_exceptionrequest_add                      POST   302   302   302   302   302   302   302   302   403   403
admin:requests_exceptionrequest_history                  GET    302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_history                  POST   302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_delete                   GET    302   302   302   302   302   302   302   302   403   403
admin:requests_exceptionrequest_delete                   POST   302   302   302   302   302   302   302   302   403   403
admin:requests_exceptionrequest_change                   GET    302   302   302   302   302   302   302   302   200   200
admin:requests_exceptionrequest_change                   POST   302   302   302   302   302   302   302   302   403   403
admin:admin/requests/exceptionrequest/<path:object_id>/  GET    302   302   302   302   302   302   302   302   302   302
admin:admin/requests/exceptionrequest/<path:object_id>/  POST   302   302   302   302   302   302   302   302   302   302
admin:requests_customer_simple_history                   GET    302   302   302   302   302   302   302   302   200   200
admin:requests_customer_simple_history                   POST   302   302   302   302   302   302   302   302   405   405
admin:requests_customer_changelist                       GET    302   302   302   302   302   302   302   302   200   200
admin:requests_customer_changelist                       POST   302   302   302   302   302   302   302   302   200   200
admin:requests_customer_add                              GET    302   302   302   302   302   302   302   302   403   403
admin:requests_customer_add                              POST   302   302   302   302   302   302   302   302   403   403
admin:requests_customer_history                          GET    302   302   302   302   302   302   302   302   200   200
admin:requests_customer_history                          POST   302   302   302   302   302   302   302   302   200   200
admin:requests_customer_delete                           GET    302   302   302   302   302   302   302   302   403   403
admin:requests_customer_delete                           POST   302   302   302   302   302   302   302   302   403   403
admin:requests_customer_change                           GET    302   302   302   302   302   302   302   302   200   200
admin:requests_customer_change                           POST   302   302   302   302   302   302   302   302   403   403
admin:admin/requests/customer/<path:object_id>/          GET    302   302   302   302   302   302   302   302   302   302
admin:admin/requests/customer/<path:object_id>/          POST   302   302   302   302   302   302   302   302   302   302
admin:requests_delegation_simple_history                 GET    302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_simple_history                 POST   302   302   302   302   302   302   302   302   405   405
admin:requests_delegation_changelist                     GET    302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_changelist                     POST   302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_add                            GET    302   302   302   302   302   302   302   302   403   403
admin:requests_delegation_add                            POST   302   302   302   302   302   302   302   302   403   403
admin:requests_delegation_history                        GET    302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_history                        POST   302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_delete                         GET    302   302   302   302   302   302   302   302   403   403
admin:requests_delegation_delete                         POST   302   302   302   302   302   302   302   302   403   403
admin:requests_delegation_change                         GET    302   302   302   302   302   302   302   302   200   200
admin:requests_delegation_change                         POST   302   302   302   302   302   302   302   302   403   403
admin:admin/requests/delegation/<path:object_id>/        GET    302   302   302   302   302   302   302   302   302   302
admin:admin/requests/delegation/<path:object_id>/        POST   302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_changelist                GET    302   302   302   302   302   302   302   302   200   200
admin:requests_webhookendpoint_changelist                POST   302   302   302   302   302   302   302   302   200   200
admin:requests_webhookendpoint_add                       GET    302   302   302   302   302   302   302   302   200   200
admin:requests_webhookendpoint_add                       POST   302   302   302   302   302   302   302   302   200   200
admin:requests_webhookendpoint_history                   GET    302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_history                   POST   302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_delete                    GET    302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_delete                    POST   302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_change                    GET    302   302   302   302   302   302   302   302   302   302
admin:requests_webhookendpoint_change                    POST   302   302   302   302   302   302   302   302   302   302
admin:admin/requests/webhookendpoint/<path:object_id>/   GET    302   302   302   302   302   302   302   302   302   302
admin:admin/requests/webhookendpoint/<path:object_id>/   POST   302   302   302   302   302   302   302   302   302   302
admin:requests_webhookdelivery_changelist                GET    302   302   302   302   302   302   302   302   200   200
admin:requests_webhookdelivery_changelist                POST   302   302   302   302   302   302   302   302   200   200
admin:requests_webhookdelivery_add                       GET    302   302   302   302   302   302   302   302   403   403
admin:requests_webhookdelivery_add                       POST   302   302   302   302   302   302   302   302   403   403
admin:requests_webhookdelivery_history                   GET    302   302   302   302   302   302   302   302   302   302
admin:requests_webhookdelivery_history                   POST   302   302   302   302   302   302   302   302   302   302
admin:requests_webhookdelivery_delete                    GET    302   302   302   302   302   302   302   302   403   403
admin:requests_webhookdelivery_delete                    POST   302   302   302   302   302   302   302   302   403   403
admin:requests_webhookdelivery_change                    GET    302   302   302   302   302   302   302   302   302   302
admin:requests_webhookdelivery_change                    POST   302   302   302   302   302   302   302   302   302   302
admin:admin/requests/webhookdelivery/<path:object_id>/   GET    302   302   302   302   302   302   302   302   302   302
admin:admin/requests/webhookdelivery/<path:object_id>/   POST   302   302   302   302   302   302   302   302   302   302
admin:app_list                                           GET    302   302   302   302   302   302   302   302   404   404
admin:app_list                                           POST   302   302   302   302   302   302   302   302   404   404
admin:admin/(?P<url>.*)$                                 GET    302   302   302   302   302   302   302   302   404   404
admin:admin/(?P<url>.*)$                                 POST   302   302   302   302   302   302   302   302   404   404
requests:new                                             GET    302   302   403   200   200   200   200   200   403   200
requests:new                                             POST   302   302   403   200   200   200   200   200   403   200
requests:preview                                         GET    302   302   403   200   200   200   200   200   403   200
requests:preview                                         POST   302   302   403   200   200   200   200   200   403   200
requests:customer_hint                                   GET    302   302   403   405   405   405   405   405   403   405
requests:customer_hint                                   POST   302   302   403   200   200   200   200   200   403   200
requests:mine                                            GET    302   302   403   200   200   200   200   200   403   200
requests:mine                                            POST   302   302   403   405   405   405   405   405   403   405
requests:queue                                           GET    302   302   403   403   403   200   200   200   403   200
requests:queue                                           POST   302   302   403   403   403   405   405   405   403   405
requests:queue_claim                                     GET    302   302   403   403   403   405   405   405   403   405
requests:queue_claim                                     POST   302   302   403   403   403   302   302   302   403   302
requests:all                                             GET    302   302   403   200   200   200   200   200   200   200
requests:all                                             POST   302   302   403   405   405   405   405   405   405   405
requests:notifications                                   GET    302   302   200   200   200   200   200   200   200   200
requests:notifications                                   POST   302   302   405   405   405   405   405   405   405   405
requests:notifications_read                              GET    302   302   405   405   405   405   405   405   405   405
requests:notifications_read                              POST   302   302   302   302   302   302   302   302   302   302
requests:delegation                                      GET    302   302   403   403   403   200   200   200   403   200
requests:delegation                                      POST   302   302   403   403   403   200   200   200   403   200
requests:preferences                                     GET    302   302   403   200   200   200   200   200   200   200
requests:preferences                                     POST   302   302   403   200   200   200   200   200   200   200
requests:email_decide                                    GET    400   400   400   400   400   400   400   400   400   400
requests:email_decide                                    POST   400   400   400   400   400   400   400   400   400   400
requests:customer                                        GET    302   302   404   200   404   200   200   200   200   200
requests:customer                                        POST   302   302   405   405   405   405   405   405   405   405
requests:detail                                          GET    302   302   404   200   404   200   404   200   200   200
requests:detail                                          POST   302   302   405   405   405   405   405   405   405   405
requests:message                                         GET    302   302   405   405   405   405   405   405   405   405
requests:message                                         POST   302   302   404   400   404   404   404   404   400   400
requests:decide                                          GET    302   302   403   403   403   405   405   405   403   405
requests:decide                                          POST   302   302   403   403   403   400   404   400   403   400
requests:claim                                           GET    302   302   403   403   403   405   405   405   403   405
requests:claim                                           POST   302   302   403   403   403   302   404   302   403   302
requests:ask                                             GET    302   302   403   403   403   405   405   405   403   405
requests:ask                                             POST   302   302   403   403   403   400   404   400   403   400
requests:answer                                          GET    302   302   405   405   405   405   405   405   405   405
requests:answer                                          POST   302   302   404   400   404   404   404   404   400   400
requests:withdraw                                        GET    302   302   405   405   405   405   405   405   405   405
requests:withdraw                                        POST   302   302   404   400   404   400   404   400   400   400
requests:attach                                          GET    302   302   405   405   405   405   405   405   405   405
requests:attach                                          POST   302   302   404   302   404   302   404   302   302   302
requests:attachment                                      GET    302   302   404   404   404   404   404   404   404   404
requests:attachment                                      POST   302   302   405   405   405   405   405   405   405   405
requests:attachment_thumbnail                            GET    302   302   404   404   404   404   404   404   404   404
requests:attachment_thumbnail                            POST   302   302   405   405   405   405   405   405   405   405
requests:attachment_remove                               GET    302   302   405   405   405   405   405   405   405   405
requests:attachment_remove                               POST   302   302   404   404   404   404   404   404   404   404
policies:analysis                                        GET    302   302   403   403   403   200   200   200   200   200
policies:analysis                                        POST   302   302   403   403   403   405   405   405   405   405
policies:flag_resolve                                    GET    302   302   403   403   403   403   403   403   405   405
policies:flag_resolve                                    POST   302   302   403   403   403   403   403   403   302   302
api:policies                                             GET    401   401   403   200   200   200   200   200   200   200
api:policies                                             POST   401   401   403   405   405   405   405   405   405   405
api:policy                                               GET    401   401   403   200   200   200   200   200   200   200
api:policy                                               POST   401   401   403   405   405   405   405   405   405   405
api:requests                                             GET    401   401   403   200   200   200   200   200   200   200
api:requests                                             POST   401   401   403   400   400   400   400   400   403   400
api:preview                                              GET    401   401   403   405   405   405   405   405   403   405
api:preview                                              POST   401   401   403   400   400   400   400   400   403   400
api:request                                              GET    401   401   404   200   404   200   404   200   200   200
api:request                                              POST   401   401   405   405   405   405   405   405   405   405
api:claim                                                GET    401   401   403   403   403   405   405   405   403   405
api:claim                                                POST   401   401   403   403   403   409   404   409   403   409
api:release                                              GET    401   401   403   403   403   405   405   405   403   405
api:release                                              POST   401   401   403   403   403   200   404   409   403   409
api:decide                                               GET    401   401   403   403   403   405   405   405   403   405
api:decide                                               POST   401   401   403   403   403   400   404   400   403   400
api:ask                                                  GET    401   401   403   403   403   405   405   405   403   405
api:ask                                                  POST   401   401   403   403   403   400   404   400   403   400
api:answer                                               GET    401   401   405   405   405   405   405   405   405   405
api:answer                                               POST   401   401   404   400   404   400   404   400   400   400
api:withdraw                                             GET    401   401   405   405   405   405   405   405   405   405
api:withdraw                                             POST   401   401   404   400   404   400   404   400   400   400
api:queue                                                GET    401   401   403   403   403   200   200   200   403   200
api:queue                                                POST   401   401   403   403   403   405   405   405   403   405
api:notifications                                        GET    401   401   200   200   200   200   200   200   200   200
api:notifications                                        POST   401   401   405   405   405   405   405   405   405   405
api:notifications_read                                   GET    401   401   405   405   405   405   405   405   405   405
api:notifications_read                                   POST   401   401   200   200   200   200   200   200   200   200
api:schema                                               GET    200   200   200   200   200   200   200   200   200   200
api:schema                                               POST   405   405   405   405   405   405   405   405   405   405
api:docs                                                 GET    200   200   200   200   200   200   200   200   200   200
api:docs                                                 POST   405   405   405   405   405   405   405   405   405   405
api:not_found                                            GET    404   404   404   404   404   404   404   404   404   404
api:not_found                                            POST   404   404   404   404   404   404   404   404   404   404
api_tokens                                               GET    302   302   200   200   200   200   200   200   200   200
api_tokens                                               POST   302   302   200   200   200   200   200   200   200   200
"""


def parse(table: str) -> dict[tuple[str, str], list[int]]:
    rows = {}
    for line in table.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, method, *codes = line.split()
        assert len(codes) == len(COLUMNS), f"row {key} {method} has {len(codes)} codes, not {len(COLUMNS)}"
        rows[(key, method)] = [int(code) for code in codes]
    return rows


def in_part(key: str, part: str) -> bool:
    return key.startswith("admin:") == (part == "admin")


# In four parts (the admin's URLs and the portal's, by GET and by POST), so that pytest-xdist spreads them
# over its processes; each part checks its own rows, and the four together every row of the table.
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("part", ["admin", "portal"])
def test_every_url_role_and_method_gets_the_status_in_the_table(part, method, world):
    expected = {
        (key, how): codes for (key, how), codes in parse(MATRIX).items() if how == method and in_part(key, part)
    }
    observed: dict[tuple[str, str], list[int]] = {}
    clients = {role: world.client(role) for role in ROLES}
    for route in all_routes():
        if not in_part(route.key, part):
            continue
        url = route.url(world.valid_values(route))
        codes = []
        for role in ROLES:
            response = getattr(clients[role], method.lower())(url)
            codes.append(response.status_code)
            if "logout" in route.pattern and method == "POST":
                clients[role] = world.client(role)
        observed[(route.key, method)] = codes

    if os.environ.get("PRINT_MATRIX") == "1":
        width = max(len(key) for key, _ in observed)
        print()
        for (key, method), codes in observed.items():
            print(f"{key:<{width}}  {method:<4} " + " ".join(f"{code:>5}" for code in codes))

    missing = sorted(set(observed) - set(expected))
    assert not missing, (
        f"{len(missing)} URL/method pairs have no row in MATRIX (tests/portal/test_permission_matrix.py): add one per "
        f"new URL, with the status each role must get. First: {missing[:5]}"
    )
    stale = sorted(set(expected) - set(observed))
    assert not stale, f"MATRIX rows for URLs that no longer exist: {stale[:5]}"
    wrong = [
        f"{key} {method}: {role} got {got}, the table says {want}"
        for (key, method), codes in observed.items()
        for role, got, want in zip(COLUMNS, codes, expected[(key, method)], strict=True)
        if got != want
    ]
    assert not wrong, f"{len(wrong)} cells differ:\n" + "\n".join(wrong[:60])


def test_the_navigation_shows_only_links_the_person_can_open(
    world,
):
    """Every link in the menu bar and on the notifications page opens for the person shown it (no 403),
    and a person in no group is shown neither All requests nor the email preferences."""
    shown = {}
    for role in ROLES[2:]:  # the logged-in ones
        client = world.client(role)
        page = client.get(reverse("requests:notifications")).content.decode()
        # Home is the exception: for a person in no group it is the "No role yet" page, with a 403.
        links = {link for link in re.findall(r'href="(/[^"#?]*)"', page) if not link.startswith("/static/")}
        links -= {reverse("home")}
        refused = [link for link in sorted(links) if client.get(link).status_code in (403, 404)]
        assert not refused, f"{role} is shown links it cannot open: {refused}"
        shown[role] = links
    for link in (reverse("requests:all"), reverse("requests:preferences")):
        assert link not in shown["no_group"]
        assert link in shown["rep"] and link in shown["approver_1"] and link in shown["policy_admin"]
