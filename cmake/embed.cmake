# cmake -DIN=file -DOUT=file.c -DVAR=name -P embed.cmake: writes IN's bytes as a C array
# VAR[] (with a NUL after them) and its length VAR_len, so a program carries a file
# (rnn_names' sample, char_lm's text) and its default run needs no files.
if(NOT VAR)
  message(FATAL_ERROR "embed.cmake: give the array's name with -DVAR=name")
endif()
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN} by cmake/embed.cmake */\n"
  "const char ${VAR}[] = {\n${body}0};\n"
  "const unsigned long ${VAR}_len = ${bytes};\n")
