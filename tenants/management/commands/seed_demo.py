"""Seeds the demo workspace of ``make run``: an owner and two agents. Safe to run again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.demo import DEMO_SLUG
from tenants.models import Membership, Tenant, User
from tenants.permissions import BuiltinRole
from tenants.services import role_builtin, tenant_create

DEMO_PASSWORD = "demo-password-123"
DEMO_USERS = [
    ("owner@demo.example", "Olivia Owner", BuiltinRole.OWNER),
    ("ana@demo.example", "Ana Agent", BuiltinRole.AGENT),
    ("bruno@demo.example", "Bruno Agent", BuiltinRole.AGENT),
]


class Command(BaseCommand):
    help = "Create the demo workspace with an owner and two agents, and print their credentials."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD)

    @transaction.atomic
    def handle(self, *args: Any, password: str, **options: Any) -> None:
        users = {}
        for email, name, _role in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email=email, password=password, name=name)
            users[email] = user
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(name="Demo Store", slug=DEMO_SLUG, owner=users[DEMO_USERS[0][0]])
        for email, _name, role_key in DEMO_USERS[1:]:
            Membership.objects.get_or_create(
                tenant=tenant, user=users[email], defaults={"role": role_builtin(tenant=tenant, key=role_key)}
            )
        self.stdout.write(self.style.SUCCESS(f"Demo workspace '{tenant.name}' at /t/{tenant.slug}/"))
        for email, _name, role_key in DEMO_USERS:
            self.stdout.write(f"  {role_key:<6} {email}  password: {password}")
