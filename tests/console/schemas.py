"""Schemas and a fake backplane shared by the console's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftl.devserver.backplane import DeploymentInfo, FailedDeploy
from ftl.project import Project, RealmPin
from ftl.schema import ast, parse_schema, validate_schema

SHOP = """
realm shop {
  // Orders placed by customers.
  module orders {
    export data Order {
      id Int
      items [orders.Item]
      status orders.Status
      note String?
    }

    export data Item {
      sku String
      qty Int
    }

    export enum Status: String {
      Open = "open"
      Closed = "closed"
    }

    config region String
    secret apiKey String

    export topic placed orders.Order

    // Place an order.
    export verb place(orders.Order) orders.Order
      +calls payments.charge, bank.transfer@bank
      +publish orders.placed

    export verb listOrders(Unit) [orders.Order]
  }

  module payments {
    export data Charge {
      amount Int
    }

    export verb charge(payments.Charge) payments.Charge
  }

  module shipping {
    verb ship(orders.Order) Unit
      +subscribe orders.placed from=beginning
  }
}

external realm bank {
  module bank {
    export realm data Transfer {
      amount Int
    }

    export realm verb transfer(bank.Transfer) bank.Transfer
  }
}
"""


def shop_schema() -> ast.Schema:
    schema, diagnostics = validate_schema(parse_schema(SHOP))
    assert not diagnostics, diagnostics
    return schema


@dataclass
class FakeBackplane:
    """Stands in for the Backplane: the schema, deployments and project the console reads."""

    schema_value: ast.Schema
    deployment_list: list[DeploymentInfo] = field(default_factory=list)
    project: Project | None = None
    realm: str = "shop"
    failures: dict[str, FailedDeploy] = field(default_factory=dict)

    def schema(self) -> ast.Schema:
        return self.schema_value

    def deployments(self) -> list[DeploymentInfo]:
        return self.deployment_list

    def failed_deploys(self) -> dict[str, FailedDeploy]:
        return self.failures


def shop_project() -> Project:
    """A project pinning `bank` (loaded in the schema) and `ledger` (pinned, not loaded)."""
    return Project(
        path=Path("/nonexistent/ftl-project.toml"),
        realm="shop",
        module_dirs=("modules",),
        realms=(
            RealmPin(
                name="bank",
                git_repo="https://user:s3cret@git.example.com/bank.git",
                git_branch="main",
                git_commit="0123456789abcdef0123456789abcdef01234567",
                git_path="public.ftl",
            ),
            RealmPin(
                name="ledger",
                git_repo="https://git.example.com/ledger.git",
                git_branch="main",
                git_commit="fedcba9876543210fedcba9876543210fedcba98",
                git_path="public.ftl",
            ),
        ),
    )
