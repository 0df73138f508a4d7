"""Checks HSDS 3.0 JSON against a published HSDS schema with the reference implementation of JSON
Schema (PyPI `jsonschema`), formats included (uuid, email, uri, date-time).

Usage: validate.py SCHEMA.json DOCUMENT.json, where the document is one organization or an array
of them. Prints each error with its place and a summary line; exits 1 if there is any error.
"""
import json
import sys

from jsonschema import FormatChecker, validators

schema = json.load(open(sys.argv[1], encoding="utf-8"))
doc = json.load(open(sys.argv[2], encoding="utf-8"))
cls = validators.validator_for(schema, default=validators.Draft202012Validator)
cls.check_schema(schema)
validator = cls(schema, format_checker=FormatChecker())
orgs = doc if isinstance(doc, list) else [doc]
errors = 0
for i, org in enumerate(orgs):
    for e in sorted(validator.iter_errors(org), key=lambda e: list(map(str, e.path))):
        errors += 1
        if errors <= 20:
            print(f"organization #{i}: /{'/'.join(map(str, e.path))}: {e.message[:200]}")
print(f"{len(orgs)} organization(s) checked with {cls.__name__}, {errors} error(s)")
sys.exit(1 if errors else 0)
