"""Enum rules: value enum values match the base type (through aliases) (R13); a type enum has at
least one variant, and every variant is a type (R14, R15)."""

from __future__ import annotations

from ftl.schema import ast
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report

__all__ = ["check_enums"]

_VALUE_TYPE_NAMES = {ast.StringValue: "String", ast.IntValue: "Int", ast.TypeValue: "type"}


def check_enums(module: ast.Module, index: RealmIndex, report: Report) -> None:
    for decl in module.decls:
        if not isinstance(decl, ast.Enum):
            continue
        if decl.type is None:
            _check_type_enum(decl, report)
        else:
            _check_value_enum(decl, decl.type, index, report)


def _check_type_enum(enum: ast.Enum, report: Report) -> None:
    if not enum.variants:
        report.error(f'enum "{enum.name}" must have at least one variant', enum.pos)
    for variant in enum.variants:
        if not isinstance(variant.value, ast.TypeValue):
            report.error(
                f'type enum variant "{variant.name}" value must be a type, '
                f"was a {_VALUE_TYPE_NAMES[type(variant.value)]} value",
                variant.pos,
                enum.pos,
            )


def _check_value_enum(enum: ast.Enum, base: ast.Type, index: RealmIndex, report: Report) -> None:
    underlying, _ = index.underlying(base)
    if isinstance(underlying, ast.Ref):
        return  # an unknown or unresolvable base: reported where the reference is checked
    base_name = print_type(underlying)
    for variant in enum.variants:
        value = variant.value
        if isinstance(value, ast.TypeValue):
            continue  # upstream accepts `enum F: Bool { X Bool }`; the value is a type, not a literal
        value_name = _VALUE_TYPE_NAMES[type(value)]
        if value_name != base_name:
            report.error(
                f'enum variant "{variant.name}" of type {base_name} '
                f'cannot have a value of type "{value_name}"',
                variant.pos,
                enum.pos,
            )
