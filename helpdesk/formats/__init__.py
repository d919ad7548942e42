"""The product's date, time and number formats per language (``FORMAT_MODULE_PATH``).

Django reads ``helpdesk.formats.<locale>.formats`` before its own ``django.conf.locale`` modules and falls
back to them for every name not set here. Times are on the 24-hour clock in every language.
"""
