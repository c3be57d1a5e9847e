# cmake -DIN=file -DOUT=file.c -DVAR=name -P embed_text.cmake: writes IN's bytes as a C
# array VAR[] (NUL-terminated) with its length VAR_len. cmake/embed.cmake does the same
# with a fixed name (names_sample_tsv); this one takes the name.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN} by examples/char_lm/embed_text.cmake */\n"
  "const char ${VAR}[] = {\n${body}0};\n"
  "const unsigned long ${VAR}_len = ${bytes};\n")
