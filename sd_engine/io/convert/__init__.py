"""The converter from PySD's abstract model to a :class:`~sd_engine.spec.ModelSpec`.

:func:`sd_engine.io.pysd_import.read_model` reads and checks a Vensim or XMILE file and has
PySD's parser build its *abstract model*; these modules turn that into sdflow's spec, in
the order a conversion runs:

1. :mod:`~sd_engine.io.convert.elements` -- the pieces of the file being converted
   (:class:`~sd_engine.io.convert.elements.Element`) and the file's text
   (:class:`~sd_engine.io.convert.elements.SourceFile`: definition lines, equation texts);
2. :mod:`~sd_engine.io.convert.subscripts` -- subscript ranges, what each subscript stands
   for, the dimensions of each variable;
3. :mod:`~sd_engine.io.convert.data` -- values and series read from data files;
4. :mod:`~sd_engine.io.convert.context` -- everything known before any equation is
   converted, read once and frozen (:class:`~sd_engine.io.convert.context.ModelContext`);
5. :mod:`~sd_engine.io.convert.start_values` -- values at the initial time: the time
   settings, and the orders of DELAY N and SMOOTH N;
6. :mod:`~sd_engine.io.convert.expressions` -- the visitor of PySD's expression trees, with
   the table of functions it converts;
7. :mod:`~sd_engine.io.convert.variables` -- each element as spec variables (stocks and
   their flows, constants, lookups, block equations);
8. :mod:`~sd_engine.io.convert.macros` -- Vensim macros, copied at each call;
9. :mod:`~sd_engine.io.convert.converter` -- the conversion as a whole.

Anything the engine cannot simulate faithfully is refused with
:class:`~sd_engine.errors.UnsupportedError` naming the variable and the construct.
"""
