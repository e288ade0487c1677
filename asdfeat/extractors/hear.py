"""Extractors for any module that follows the HEAR 2021 model API."""
