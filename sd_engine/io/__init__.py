"""Front ends and exports: model files in and out of sdflow.

Readers turn Vensim (.mdl) and XMILE (.xmile, .stmx, .itmx) files into a
:class:`~sd_engine.spec.ModelSpec` through PySD's translators (used as parsers only);
writers turn a spec back into a file other tools open.
"""
